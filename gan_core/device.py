"""Which torch device to train or draw on."""
from __future__ import annotations

import torch

from .config import ConfigError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """`cuda` when available unless asked otherwise; a clear error for a device that is not there."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but this machine has no usable CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not supported; use cpu, cuda or auto")
    return dev
