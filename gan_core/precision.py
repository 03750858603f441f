"""How a step does its arithmetic: "fp32" (the book's) or "bf16" (its matrix products in bfloat16).

bf16 keeps float32 master weights, gradients and Adam state; only the GEMMs' operands
and the activations between them are bfloat16. It pays only where the hardware multiplies
bfloat16 natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU that supports it); elsewhere
PyTorch emulates it, slower than float32, so it is refused there with the reason.

    ok, why = bf16_available("cpu")
"""
from __future__ import annotations

from pathlib import Path

import torch

from .config import ConfigError, quoted

PRECISIONS = ("fp32", "bf16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")   # /proc/cpuinfo flags of native bfloat16 arithmetic
CPUINFO = Path("/proc/cpuinfo")


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags, or None where they cannot be read (not Linux)."""
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def bf16_available(device: str | torch.device = "cpu") -> tuple[bool, str]:
    """Whether bf16 training pays on this device, and if not, why (one line)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return False, "bf16 needs a CUDA GPU, and none is usable here"
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return False, f"bf16 needs a GPU that computes in bfloat16; {torch.cuda.get_device_name(dev)} does not"
        return True, ""
    if dev.type != "cpu":
        return False, f"bf16 is supported on cpu and cuda only, not {dev.type}"
    flags = _cpu_flags()
    if flags is None:
        return False, "bf16 on a CPU needs AVX512-BF16 or AMX, and this system does not say whether it has them"
    if not flags & set(CPU_BF16_FLAGS):
        return False, ("bf16 on a CPU needs AVX512-BF16 or AMX (cpu flags avx512_bf16, amx_bf16); this CPU has "
                       "neither, so bfloat16 would be emulated and slower than fp32")
    return True, ""


def known_precision(precision: object) -> str:
    """The precision if it is one of PRECISIONS (from a flag or a run folder's file); else a ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {quoted(precision)}")
    return precision


def check_precision(precision: str, device: str | torch.device, arch: str = "mlp") -> str:
    """The precision if this device can train `arch` with it; else a ConfigError with the one-line reason."""
    known_precision(precision)
    if precision == "bf16" and arch != "mlp":   # the bfloat16 GEMMs are the MLP's hand-written step's
        raise ConfigError("bf16 is for the book's MLP only; the DCGAN trains in fp32")
    if precision == "bf16":
        ok, why = bf16_available(device)
        if not ok:
            raise ConfigError(why)
    return precision


def compute_dtype(precision: str, dtype: torch.dtype) -> torch.dtype:
    """The dtype of the GEMMs for parameters of `dtype`: bfloat16 under bf16, else the parameters' own."""
    return torch.bfloat16 if precision == "bf16" else dtype
