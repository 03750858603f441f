"""Plotly figures of a run's training curves: losses, and D's verdicts on real and fake images.

Per-step values are noisy, so each is drawn faint (while there are few) under a
trailing moving average, with the epoch means as dots. Traces are capped at
MAX_POINTS so a 500-epoch run (300,000 steps) sends as little as a short one.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .metrics import Snapshot

MAX_POINTS = 1000
COLORS = {"d": "#1f77b4", "g": "#ff7f0e", "dx": "#2ca02c", "dgz": "#d62728"}
NAMES = {"d": "d_loss", "g": "g_loss", "dx": "D(x): real", "dgz": "D(G(z)): fake"}
EPOCH_MEANS = {"d": "md", "g": "mg", "dx": "mdx", "dgz": "mdgz"}


def trailing_mean(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values at each point (fewer at the start), same length as y."""
    c = np.concatenate(([0.0], np.cumsum(y)))
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def _figure(snap: Snapshot, keys: tuple[str, str], steps_per_epoch: int, title: str, y_title: str,
            uirevision: str, **layout) -> go.Figure:
    n = len(snap.steps)
    stride = max(1, -(-n // MAX_POINTS))
    # A window at least as wide as the stride, so dropping points between samples loses nothing.
    window = max(stride, steps_per_epoch // 20, 1)
    idx = np.arange(n - 1, -1, -stride)[::-1]   # every stride-th step, ending on the newest
    x = snap.steps[idx] / steps_per_epoch
    traces = []
    for k in keys:
        y = snap.step_series(k)
        if n <= MAX_POINTS:
            traces.append(dict(type="scatter", x=x, y=y.astype(np.float32), mode="lines", opacity=0.25,
                               line=dict(color=COLORS[k], width=1), legendgroup=k, showlegend=False, hoverinfo="skip"))
        traces.append(dict(type="scatter", x=x, y=trailing_mean(y, window)[idx].astype(np.float32), mode="lines",
                           name=NAMES[k], line=dict(color=COLORS[k], width=2), legendgroup=k))
        if len(snap.epoch_steps):
            traces.append(dict(type="scatter", x=snap.epoch_steps / steps_per_epoch, y=snap.epoch_series(EPOCH_MEANS[k]),
                               mode="markers", name=f"{NAMES[k]}, epoch mean", legendgroup=k, showlegend=False,
                               marker=dict(color=COLORS[k], size=7, line=dict(color="white", width=1))))
    # One go.Figure from plain dicts: add_trace/update_layout validate per call, 4x slower, and
    # this runs every poll of every page watching a run.
    return go.Figure(data=traces, layout=dict(
        title=dict(text=title, font=dict(size=15)), height=330, uirevision=uirevision,
        margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        xaxis=dict(title=dict(text="epoch")), yaxis=dict(title=dict(text=y_title)), **layout))


def loss_figure(snap: Snapshot, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """d_loss and g_loss against epochs."""
    return _figure(snap, ("d", "g"), steps_per_epoch, "Losses", "BCE loss", uirevision)


def verdict_figure(snap: Snapshot, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """D's mean output on real and on generated images, with the 0.5 line where D cannot tell them apart."""
    half = dict(type="line", xref="paper", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="grey", dash="dash", width=1))
    note = dict(xref="paper", x=1, y=0.5, yanchor="top", xanchor="right", showarrow=False,
                text="0.5: D cannot tell", font=dict(color="grey", size=11))
    fig = _figure(snap, ("dx", "dgz"), steps_per_epoch, "D's verdicts", "D's output", uirevision,
                  shapes=[half], annotations=[note])
    fig.layout.yaxis.range = [0, 1.02]
    return fig
