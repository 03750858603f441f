"""Every Plotly figure the app draws: a run's live curves, a finished run's history, the class mix.

Per-step values are noisy, so each is drawn faint (while there are few) under a
trailing moving average, with the epoch means as dots. Traces are capped at
MAX_POINTS so a 500-epoch run (300,000 steps) sends as little as a short one.
A long run's log holds means over buckets of steps rather than every step
(gan_core/step_log.py); the moving average is computed from them alike.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gan_core import CLASS_NAMES, COVERAGE_THRESHOLD, Evaluation

from .run_curves import Curves

MAX_POINTS = 1000
# Keyed by the events' own field names (gan_core.StepEvent); the epoch means are "mean_" + the name.
COLORS = {"d_loss": "#1f77b4", "g_loss": "#ff7f0e", "d_x": "#2ca02c", "d_g_z": "#d62728"}
NAMES = {"d_loss": "d_loss", "g_loss": "g_loss", "d_x": "D(x): real", "d_g_z": "D(G(z)): fake"}
VERDICTS, LOSSES = ("d_x", "d_g_z"), ("d_loss", "g_loss")
# The curves a teacher can set beside the Timeline's pictures.
CURVES = {"D's verdicts": VERDICTS, "Losses": LOSSES}
Y_TITLES = {"D's verdicts": "D's output, epoch mean", "Losses": "BCE loss, epoch mean"}


def trailing_mean(snap: Curves, key: str, at: np.ndarray, window: int) -> np.ndarray:
    """Mean of the value over the `window` steps up to each step in `at` (fewer at the start)."""
    # The running sum is exact at the end of each row (a step, or a bucket of steps holding their
    # mean) and taken as linear within a bucket, so with a row a step this is the plain moving average.
    ends = np.concatenate(([snap.first_step - 1], snap.steps))
    total = np.concatenate(([0.0], np.cumsum(snap.step_series(key) * np.diff(ends))))
    lo = np.maximum(at - window, ends[0])
    return (np.interp(at, ends, total) - np.interp(lo, ends, total)) / (at - lo)


def _stride(n: int) -> int:
    return max(1, -(-n // MAX_POINTS))


def _every(n: int) -> np.ndarray:
    """At most MAX_POINTS of n indices, every _stride(n)-th, ending on the newest."""
    return np.arange(n - 1, -1, -_stride(n))[::-1]


def _figure(snap: Curves, keys: tuple[str, str], steps_per_epoch: int, title: str, y_title: str,
            uirevision: str, **layout) -> go.Figure:
    n = int(snap.steps[-1]) - snap.first_step + 1   # steps the rows hold
    # A window at least as wide as the stride, so dropping points between samples loses nothing.
    window = max(_stride(n), steps_per_epoch // 20, 1)
    at = snap.first_step + _every(n)               # the steps drawn
    x = at / steps_per_epoch
    epochs = _every(len(snap.epoch_steps))
    traces = []
    for k in keys:
        if len(snap.steps) <= MAX_POINTS:   # few rows: each step as logged, faint
            traces.append(dict(type="scatter", x=snap.steps / steps_per_epoch, y=snap.step_series(k).astype(np.float32),
                               mode="lines", opacity=0.25, line=dict(color=COLORS[k], width=1), legendgroup=k,
                               showlegend=False, hoverinfo="skip"))
        traces.append(dict(type="scatter", x=x, y=trailing_mean(snap, k, at, window).astype(np.float32), mode="lines",
                           name=NAMES[k], line=dict(color=COLORS[k], width=2), legendgroup=k))
        if len(epochs):
            traces.append(dict(type="scatter", x=snap.epoch_steps[epochs] / steps_per_epoch,
                               y=snap.epoch_series("mean_" + k)[epochs], mode="markers",
                               name=f"{NAMES[k]}, epoch mean", legendgroup=k, showlegend=False,
                               marker=dict(color=COLORS[k], size=7, line=dict(color="white", width=1))))
    # One go.Figure from plain dicts: add_trace/update_layout validate per call, 4x slower, and
    # this runs every poll of every page watching a run.
    return go.Figure(data=traces, layout=dict(
        title=dict(text=title, font=dict(size=15)), height=330, uirevision=uirevision,
        margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        xaxis=dict(title=dict(text="epoch")), yaxis=dict(title=dict(text=y_title)), **layout))


def loss_figure(snap: Curves, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """d_loss and g_loss against epochs."""
    return _figure(snap, LOSSES, steps_per_epoch, "Losses", "BCE loss", uirevision)


def verdict_figure(snap: Curves, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """D's mean output on real and on generated images, with the 0.5 line where D cannot tell them apart."""
    half = dict(type="line", xref="paper", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="grey", dash="dash", width=1))
    note = dict(xref="paper", x=1, y=0.5, yanchor="top", xanchor="right", showarrow=False,
                text="0.5: D cannot tell", font=dict(color="grey", size=11))
    fig = _figure(snap, VERDICTS, steps_per_epoch, "D's verdicts", "D's output", uirevision,
                  shapes=[half], annotations=[note])
    fig.layout.yaxis.range = [0, 1.02]
    return fig


def history_figure(history: dict[str, list[float]], curves: str, epoch: int) -> go.Figure:
    """The run's per-epoch curves against epochs trained (log scale, as snapshots are spaced), the chosen epoch marked."""
    # history["epoch"] counts from 0, as the book's printout does: row e is the (e+1)-th epoch, so
    # a snapshot saved after E epochs sits at x = E.
    x = np.asarray(history["epoch"], dtype=float) + 1
    at = np.flatnonzero(x == epoch)
    fig = go.Figure()
    lo, hi = (0.0, 1.0) if curves == "D's verdicts" else (np.inf, -np.inf)
    for short in CURVES[curves]:
        # Epoch means are steadier than the book's one-batch printout, which older histories fall back on.
        name = next((n for n in ("mean_" + short, short) if n in history), None)
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


def class_figure(gen: Evaluation, floor: Evaluation) -> go.Figure:
    """Which classes the samples are taken for, beside real images judged the same way and the true label mix."""
    names = list(CLASS_NAMES[:len(gen.class_fractions)])
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=gen.class_fractions, name="this model's samples", marker_color="#1f77b4"))
    fig.add_trace(go.Bar(x=names, y=floor.class_fractions, name="real images, same classifier", marker_color="#bbbbbb"))
    fig.add_trace(go.Scatter(x=names, y=gen.real_class_mix, name="real mix (true labels)", mode="markers",
                             marker=dict(symbol="line-ew", size=26, line=dict(width=3, color="#d62728"))))
    fig.add_hline(y=COVERAGE_THRESHOLD, line=dict(color="grey", dash="dot", width=1),
                  annotation_text=f"{COVERAGE_THRESHOLD:.0%}", annotation_position="top right")
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                      yaxis=dict(title="fraction of images", tickformat=".0%"))
    return fig
