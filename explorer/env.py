"""Where the app keeps its files and how much training it allows, from environment variables.

    GAN_EXPLORER_RUNS         runs folder (default: <repo>/runs)
    GAN_EXPLORER_CHECKPOINTS  folder of ready-made *.pt checkpoints (default: <repo>/checkpoints)
    GAN_EXPLORER_UPLOADS      folder of uploaded checkpoints (default: `uploads` beside the runs folder)
    GAN_EXPLORER_UPLOADS_MB   MB the uploads folder may hold; a new upload evicts the oldest (default 500; 0: no limit)
    GAN_EXPLORER_MAX_RUNS     runs training at once; the rest wait in a queue (default: half the CPU cores, at least 1)
    GAN_EXPLORER_MAX_QUEUE    runs allowed to wait (default 20)
    GAN_EXPLORER_PAUSED_SLOT_S
                              seconds a paused run keeps its slot before lending it to the queue (default 120)
    GAN_EXPLORER_THREADS      torch threads per training run (default 1)
    GAN_EXPLORER_DEVICE       device for training runs: cpu, cuda or auto (default auto: a GPU when there is one)
    GAN_EXPLORER_DISK_BUDGET_MB  MB a run's folder may hold before the run stops (default 500; 0: no limit)
    GAN_EXPLORER_RAY_ADDRESS  train on a Ray cluster instead of this server: auto (this machine is a node of it),
                              ray://HOST:PORT (its client port) or HOST:PORT (its head); unset: train here
    GAN_EXPLORER_TEACHER_TOKEN  a secret; a browser that opens the app once with ?token=IT may control every run
                              (unset: only the browser that started a run controls it)
    GAN_EXPLORER_LIVE         1: G runs in the reader's browser where it can (explorer/live_generator.py); 0: every
                              picture is drawn on the server, the reference path (default 1)
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from gan_core import DISK_BUDGET_MB

REPO_ROOT = Path(__file__).resolve().parents[1]


class EnvError(ValueError):
    """An environment variable holds a value the app cannot use."""


def _int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EnvError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise EnvError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def runs_root() -> Path:
    return Path(os.environ.get("GAN_EXPLORER_RUNS") or REPO_ROOT / "runs")


def checkpoints_root() -> Path:
    return Path(os.environ.get("GAN_EXPLORER_CHECKPOINTS") or REPO_ROOT / "checkpoints")


def uploads_root() -> Path:
    # Beside the runs folder by default, so a server given its own runs folder keeps its uploads there too.
    return Path(os.environ.get("GAN_EXPLORER_UPLOADS") or runs_root().parent / "uploads")


def uploads_budget_mb() -> int:
    return _int("GAN_EXPLORER_UPLOADS_MB", 500, 0, 10_000_000)


def max_active_runs() -> int:
    # Each run uses one core (see threads_per_run); half the cores leaves the rest for pages and browsers.
    return _int("GAN_EXPLORER_MAX_RUNS", max(1, (os.cpu_count() or 2) // 2), 1, 256)


def max_queued_runs() -> int:
    return _int("GAN_EXPLORER_MAX_QUEUE", 20, 0, 10_000)


def paused_slot_seconds() -> int:
    # Long enough to show a class a few single steps, short enough that one forgotten Pause stalls nobody for long.
    return _int("GAN_EXPLORER_PAUSED_SLOT_S", 120, 0, 10**7)


def threads_per_run() -> int:
    return _int("GAN_EXPLORER_THREADS", 1, 1, 256)


def training_device() -> str:
    # auto: a GPU when the machine has one, as the train CLI does; cpu or cuda to insist.
    dev = os.environ.get("GAN_EXPLORER_DEVICE", "auto").strip() or "auto"
    if dev not in ("cpu", "cuda", "auto"):
        raise EnvError(f"GAN_EXPLORER_DEVICE must be cpu, cuda or auto, got {dev!r}")
    return dev


def disk_budget_mb() -> int:
    return _int("GAN_EXPLORER_DISK_BUDGET_MB", DISK_BUDGET_MB, 0, 10_000_000)


RAY_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9.-]+:[0-9]{1,5}")


def ray_address() -> str | None:
    """The Ray cluster to train on, or None to train as children of this server (explorer/run_backends.py)."""
    raw = os.environ.get("GAN_EXPLORER_RAY_ADDRESS", "").strip()
    if raw and not RAY_ADDRESS.fullmatch(raw):
        raise EnvError(f"GAN_EXPLORER_RAY_ADDRESS must be auto, ray://HOST:PORT or HOST:PORT, got {raw[:80]!r}")
    return raw or None


def teacher_token() -> str:
    """The teacher's secret ("" when none is set: no session is a teacher)."""
    return os.environ.get("GAN_EXPLORER_TEACHER_TOKEN", "").strip()


def live_generator() -> bool:
    return _int("GAN_EXPLORER_LIVE", 1, 0, 1) == 1
