"""Models the pages can explore: ready-made checkpoints, the runs trained here, an uploaded file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from gan_core import Checkpoint, GANConfig, RunFolder


@dataclass(frozen=True)
class ModelSource:
    """One entry of the model picker."""

    key: str                 # "checkpoint:NAME.pt", "run:RUN_ID" or "upload:SHA256"
    label: str
    path: Path | None = None  # None for an upload, whose bytes live in the session


@dataclass(frozen=True)
class Model:
    """A loaded generator (and discriminator, when the file has one), ready for decode/d_scores."""

    G: nn.Module
    D: nn.Module | None
    config: GANConfig
    epoch: int
    source: str              # where it came from, in words

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint, where: str) -> "Model":
        trained = f", {ck.epoch} epoch{'s' * (ck.epoch != 1)}" if ck.source != "book state_dict" else ", book state_dict"
        return cls(ck.build_generator("cpu"), ck.build_discriminator("cpu"), ck.config, ck.epoch, where + trained)


def list_sources(checkpoints: Path, runs: list[RunFolder]) -> list[ModelSource]:
    """Ready-made checkpoints (by name), then runs that have saved at least one epoch (newest first)."""
    found = [ModelSource(f"checkpoint:{p.name}", p.name, p)
             for p in sorted(checkpoints.glob("*.pt")) if p.is_file()] if checkpoints.is_dir() else []
    for run in runs:
        if run.checkpoint.is_file():
            s = run.read_status()
            found.append(ModelSource(f"run:{run.name}",
                                     f"run {run.name} · epoch {s.get('epoch', '?')}/{s.get('epochs', '?')} · "
                                     f"{s.get('state', '?')}", run.checkpoint))
    return found
