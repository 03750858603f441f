"""Where the Timeline page's generators come from: snapshot folders, loaded once per file version.

A snapshot is a generator saved at one epoch of a run (float16, G only, see
gan_core/checkpoints.py). They sit in `NAME-snapshots/` beside `NAME.pt` in the
checkpoints folder (the shipped book model), or in a run's `snapshots/`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from torch import nn

from gan_core import CheckpointError, GANConfig, RunFolder, load_checkpoint

from .charts import COLORS, NAMES

SUFFIX = "-snapshots"
# The curves a teacher can set beside the pictures: per-epoch means, which are steadier than the
# book's one-batch printout (the fallback for histories that lack them).
CURVES = {
    "D's verdicts": (("dx", "mean_d_x", "d_x"), ("dgz", "mean_d_g_z", "d_g_z")),
    "Losses": (("d", "mean_d_loss", "d_loss"), ("g", "mean_g_loss", "g_loss")),
}
Y_TITLES = {"D's verdicts": "D's output, epoch mean", "Losses": "BCE loss, epoch mean"}


@dataclass(frozen=True)
class SnapshotSource:
    """One run's snapshots: the files, and the file whose history gives the run's curves."""

    key: str                      # "checkpoints:NAME-snapshots" or "run:RUN_ID"
    label: str
    paths: tuple[Path, ...]
    history_path: Path | None     # the run's full checkpoint; None: use the latest snapshot's history


@dataclass(frozen=True)
class Snapshot:
    epoch: int                    # epochs trained when it was saved
    G: nn.Module
    config: GANConfig


def snapshot_sources(checkpoints: Path, runs: list[RunFolder]) -> list[SnapshotSource]:
    """The checkpoints folder's snapshot folders (by name), then runs that kept snapshots (newest first)."""
    found = []
    folders = sorted(p for p in checkpoints.glob(f"*{SUFFIX}") if p.is_dir()) if checkpoints.is_dir() else []
    for folder in folders:
        paths = tuple(sorted(folder.glob("epoch-*.pt")))
        if paths:
            full = folder.with_name(folder.name.removesuffix(SUFFIX) + ".pt")
            found.append(SnapshotSource(f"checkpoints:{folder.name}", f"{full.name} ({folder.name}/)", paths,
                                        full if full.is_file() else None))
    for run in runs:
        epochs = run.snapshot_epochs()
        if epochs:
            found.append(SnapshotSource(f"run:{run.name}", f"run {run.name}",
                                        tuple(run.snapshot_path(e) for e in epochs),
                                        run.checkpoint if run.checkpoint.is_file() else None))
    return found


@st.cache_resource(show_spinner=False, max_entries=256)
def _snapshot(path: str, mtime_ns: int) -> Snapshot:
    """One snapshot file, loaded once per version of it (mtime_ns is part of the cache key)."""
    ck = load_checkpoint(path)
    return Snapshot(ck.epoch, ck.build_generator("cpu"), ck.config)


@st.cache_data(show_spinner=False, max_entries=32)
def _history(path: str, mtime_ns: int) -> dict[str, list[float]]:
    return load_checkpoint(path).history


def load_snapshots(src: SnapshotSource) -> tuple[list[Snapshot], list[str]]:
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


def history_figure(history: dict[str, list[float]], curves: str, epoch: int) -> go.Figure:
    """The run's per-epoch curves against epochs trained (log scale, as snapshots are spaced), the chosen epoch marked."""
    # history["epoch"] counts from 0, as the book's printout does: row e is the (e+1)-th epoch, so
    # a snapshot saved after E epochs sits at x = E.
    x = np.asarray(history["epoch"], dtype=float) + 1
    at = np.flatnonzero(x == epoch)
    fig = go.Figure()
    lo, hi = (0.0, 1.0) if curves == "D's verdicts" else (np.inf, -np.inf)
    for short, *names in CURVES[curves]:
        name = next((n for n in names if n in history), None)
        if name is None:
            continue
        y = np.asarray(history[name], dtype=np.float32)
        lo, hi = min(lo, float(np.nanmin(y))), max(hi, float(np.nanmax(y)))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=NAMES[short], line=dict(color=COLORS[short], width=2)))
        if len(at):
            fig.add_trace(go.Scatter(x=x[at], y=y[at], mode="markers", name=f"{NAMES[short]} at epoch {epoch}",
                                     showlegend=False, marker=dict(color=COLORS[short], size=11, line=dict(color="white", width=2))))
    if np.isfinite(lo):
        # A trace rather than add_vline: shapes on a log axis take log10(x), traces take x itself.
        fig.add_trace(go.Scatter(x=[epoch, epoch], y=[lo, hi], mode="lines", name="chosen epoch", showlegend=False,
                                 line=dict(color="grey", width=1, dash="dot"), hoverinfo="skip"))
    if curves == "D's verdicts":
        fig.add_hline(y=0.5, line=dict(color="grey", dash="dash", width=1))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                      xaxis=dict(title="epochs trained", type="log"), yaxis_title=Y_TITLES[curves])
    return fig
