"""Where the Timeline page's generators come from: snapshot folders, loaded once per file version.

A snapshot is a generator saved at one epoch of a run (float16, G only, see
gan_core/checkpoints.py). They sit in `NAME-snapshots/` beside `NAME.pt` in the
checkpoints folder (the shipped book model), in the `snapshots/` of a run shipped
ready to show (checkpoints/lessons/, explorer/lesson_runs.py), or in a run's `snapshots/`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st
from torch import nn

from gan_core import CheckpointError, GANConfig, RunFolder, load_checkpoint

from .i18n import t
from .lesson_runs import LESSON_RUNS, lesson_folders
from .run_names import distinct_labels, run_title

SUFFIX = "-snapshots"


@dataclass(frozen=True)
class SnapshotSource:
    """One run's snapshots: the files, and the file whose history gives the run's curves."""

    key: str                      # "checkpoints:NAME-snapshots", "lesson:NAME" or "run:RUN_ID"
    label: str                    # in the page's language
    paths: tuple[Path, ...]
    history_path: Path | None     # the run's full checkpoint; None: use the latest snapshot's history


@dataclass(frozen=True)
class GeneratorSnapshot:
    """G as it was after `epoch` epochs of a run."""

    epoch: int                    # epochs trained when it was saved
    G: nn.Module
    config: GANConfig


def snapshot_sources(checkpoints: Path, runs: list[RunFolder]) -> list[SnapshotSource]:
    """The checkpoints folder's snapshot folders (by name), the runs shipped ready to show, then runs that kept
    snapshots (newest first)."""
    found = []
    folders = sorted(p for p in checkpoints.glob(f"*{SUFFIX}") if p.is_dir()) if checkpoints.is_dir() else []
    for folder in folders:
        paths = tuple(sorted(folder.glob("epoch-*.pt")))
        if paths:
            full = folder.with_name(folder.name.removesuffix(SUFFIX) + ".pt")
            found.append(SnapshotSource(f"checkpoints:{folder.name}", f"{full.name} ({folder.name}/)", paths,
                                        full if full.is_file() else None))
    for name, run in lesson_folders(checkpoints).items():
        if epochs := run.snapshot_epochs():
            title = t(LESSON_RUNS[name].title) if name in LESSON_RUNS else name
            # Shipped without a full checkpoint: the curves come from the latest snapshot's history.
            found.append(SnapshotSource(f"lesson:{name}", t("ready to show: {title}", title=title),
                                        tuple(run.snapshot_path(e) for e in epochs), None))
    for run in runs:
        epochs = run.snapshot_epochs()
        if epochs:
            found.append(SnapshotSource(f"run:{run.name}", run_title(run),
                                        tuple(run.snapshot_path(e) for e in epochs),
                                        run.checkpoint if run.checkpoint.is_file() else None))
    labels = distinct_labels({s.key: s.label for s in found})
    return [replace(s, label=labels[s.key]) for s in found]


@st.cache_resource(show_spinner=False, max_entries=256)
def _snapshot(path: str, mtime_ns: int) -> GeneratorSnapshot:
    """One snapshot file, loaded once per version of it (mtime_ns is part of the cache key)."""
    ck = load_checkpoint(path)
    return GeneratorSnapshot(ck.epoch, ck.build_generator("cpu"), ck.config)


@st.cache_data(show_spinner=False, max_entries=32)
def _history(path: str, mtime_ns: int) -> dict[str, list[float]]:
    return load_checkpoint(path).history


def load_snapshots(src: SnapshotSource) -> tuple[list[GeneratorSnapshot], list[str]]:
    """The source's snapshots that load, in epoch order, and one line for each file that did not."""
    snaps, problems = [], []
    for p in src.paths:
        try:
            snaps.append(_snapshot(str(p), p.stat().st_mtime_ns))
        except (CheckpointError, OSError) as e:   # a run may delete or rewrite files while we look
            problems.append(f"{p.name}: {e}")
    return sorted(snaps, key=lambda s: s.epoch), problems


def load_history(src: SnapshotSource) -> dict[str, list[float]]:
    """The run's per-epoch history: from its full checkpoint, else what the latest snapshot carries; {} if none."""
    candidates = ([src.history_path] if src.history_path else []) + sorted(src.paths, reverse=True)[:1]
    for p in candidates:
        try:
            history = _history(str(p), p.stat().st_mtime_ns)
        except (CheckpointError, OSError):
            continue
        if history.get("epoch"):
            return history
    return {}
