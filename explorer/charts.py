"""Every Plotly figure the app draws: a run's curves, a finished run's history, the class mix, the lesson's diagrams.

Per-step values are noisy, so each is drawn faint (while there are few) under a
trailing moving average, with the epoch means as dots. Traces are capped at
MAX_POINTS so a 500-epoch run (300,000 steps) sends as little as a short one.

Titles, axes and legend names are in the page's language; each trace also carries a stable
key in Plotly's `meta` ("d_loss", "d_loss.epoch_mean", ...) that code and tests find it by.
A long run's log holds means over buckets of steps rather than every step
(gan_core/step_log.py); the moving average is computed from them alike.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gan_core import CLASS_NAMES, COVERAGE_THRESHOLD, Evaluation, Layer, StepAnatomy

from .i18n import N_, t
from .run_curves import Curves

MAX_POINTS = 1000
# Keyed by the events' own field names (gan_core.StepEvent); the epoch means are "mean_" + the name.
COLORS = {"d_loss": "#1f77b4", "g_loss": "#ff7f0e", "d_x": "#2ca02c", "d_g_z": "#d62728"}
NAMES = {"d_loss": N_("d_loss"), "g_loss": N_("g_loss"), "d_x": N_("D(x): real"), "d_g_z": N_("D(G(z)): fake")}
VERDICTS, LOSSES = ("d_x", "d_g_z"), ("d_loss", "g_loss")
# The curves a teacher can set beside the Timeline's pictures: key -> (traces, name, y axis title).
CURVES = {"verdicts": (VERDICTS, N_("D's verdicts"), N_("D's output, epoch mean")),
          "losses": (LOSSES, N_("Losses"), N_("BCE loss, epoch mean"))}
# Fashion-MNIST's classes as gan_core.CLASS_NAMES spells them, marked for translation (tests/test_i18n.py
# checks the two agree).
CLASS_LABELS = (N_("T-shirt/top"), N_("Trouser"), N_("Pullover"), N_("Dress"), N_("Coat"), N_("Sandal"), N_("Shirt"),
                N_("Sneaker"), N_("Bag"), N_("Ankle boot"))


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
        name = t(NAMES[k])
        if len(snap.steps) <= MAX_POINTS:   # few rows: each step as logged, faint
            traces.append(dict(type="scatter", x=snap.steps / steps_per_epoch, y=snap.step_series(k).astype(np.float32),
                               mode="lines", opacity=0.25, meta=f"{k}.steps", line=dict(color=COLORS[k], width=1),
                               legendgroup=k, showlegend=False, hoverinfo="skip"))
        traces.append(dict(type="scatter", x=x, y=trailing_mean(snap, k, at, window).astype(np.float32), mode="lines",
                           name=name, meta=k, line=dict(color=COLORS[k], width=2), legendgroup=k))
        if len(epochs):
            traces.append(dict(type="scatter", x=snap.epoch_steps[epochs] / steps_per_epoch,
                               y=snap.epoch_series("mean_" + k)[epochs], mode="markers",
                               name=t("{name}, epoch mean", name=name), meta=f"{k}.epoch_mean",
                               legendgroup=k, showlegend=False,
                               marker=dict(color=COLORS[k], size=7, line=dict(color="white", width=1))))
    # One go.Figure from plain dicts: add_trace/update_layout validate per call, 4x slower, and
    # this runs every poll of every page watching a run.
    return go.Figure(data=traces, layout=dict(
        title=dict(text=title, font=dict(size=15)), height=330, uirevision=uirevision,
        margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        xaxis=dict(title=dict(text=t("epoch"))), yaxis=dict(title=dict(text=y_title)), **layout))


def loss_figure(snap: Curves, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """d_loss and g_loss against epochs."""
    return _figure(snap, LOSSES, steps_per_epoch, t("Losses"), t("BCE loss"), uirevision)


def verdict_figure(snap: Curves, steps_per_epoch: int, uirevision: str = "") -> go.Figure:
    """D's mean output on real and on generated images, with the 0.5 line where D cannot tell them apart."""
    half = dict(type="line", xref="paper", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="grey", dash="dash", width=1))
    note = dict(xref="paper", x=1, y=0.5, yanchor="top", xanchor="right", showarrow=False,
                text=t("0.5: D cannot tell"), font=dict(color="grey", size=11))
    fig = _figure(snap, VERDICTS, steps_per_epoch, t("D's verdicts"), t("D's output"), uirevision,
                  shapes=[half], annotations=[note])
    fig.layout.yaxis.range = [0, 1.02]
    return fig


def history_figure(history: dict[str, list[float]], curves: str, epoch: int) -> go.Figure:
    """The run's per-epoch curves (a key of CURVES) against epochs trained (log scale, as snapshots are spaced),
    the chosen epoch marked."""
    # history["epoch"] counts from 0, as the book's printout does: row e is the (e+1)-th epoch, so
    # a snapshot saved after E epochs sits at x = E.
    x = np.asarray(history["epoch"], dtype=float) + 1
    at = np.flatnonzero(x == epoch)
    fig = go.Figure()
    keys, _, y_title = CURVES[curves]
    lo, hi = (0.0, 1.0) if curves == "verdicts" else (np.inf, -np.inf)
    for short in keys:
        # Epoch means are steadier than the book's one-batch printout, which older histories fall back on.
        name = next((n for n in ("mean_" + short, short) if n in history), None)
        if name is None:
            continue
        y = np.asarray(history[name], dtype=np.float32)
        lo, hi = min(lo, float(np.nanmin(y))), max(hi, float(np.nanmax(y)))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=t(NAMES[short]), meta=short,
                                 line=dict(color=COLORS[short], width=2)))
        if len(at):
            fig.add_trace(go.Scatter(x=x[at], y=y[at], mode="markers", meta=f"{short}.at_epoch",
                                     name=t("{name} at epoch {epoch}", name=t(NAMES[short]), epoch=epoch),
                                     showlegend=False, marker=dict(color=COLORS[short], size=11, line=dict(color="white", width=2))))
    if np.isfinite(lo):
        # A trace rather than add_vline: shapes on a log axis take log10(x), traces take x itself.
        fig.add_trace(go.Scatter(x=[epoch, epoch], y=[lo, hi], mode="lines", name=t("chosen epoch"),
                                 meta="chosen_epoch", showlegend=False,
                                 line=dict(color="grey", width=1, dash="dot"), hoverinfo="skip"))
    if curves == "verdicts":
        fig.add_hline(y=0.5, line=dict(color="grey", dash="dash", width=1))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                      xaxis=dict(title=t("epochs trained"), type="log", tickvals=log_ticks(float(x.max())),
                                 ticktext=[f"{v:,}" for v in log_ticks(float(x.max()))]),
                      yaxis_title=t(y_title))
    return fig


def log_ticks(top: float) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to top: whole labels on a log axis (Plotly's own read "1 2 5 10 2 5 100")."""
    ticks, decade = [], 1
    while decade <= top:
        ticks += [m * decade for m in (1, 2, 5) if m * decade <= top]
        decade *= 10
    return ticks or [1]


def class_figure(gen: Evaluation, floor: Evaluation) -> go.Figure:
    """Which classes the samples are taken for, beside real images judged the same way and the true label mix."""
    names = [t(n) for n in CLASS_NAMES[:len(gen.class_fractions)]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=gen.class_fractions, name=t("this model's samples"), meta="samples",
                         marker_color="#1f77b4"))
    fig.add_trace(go.Bar(x=names, y=floor.class_fractions, name=t("real images, same classifier"), meta="real",
                         marker_color="#bbbbbb"))
    fig.add_trace(go.Scatter(x=names, y=gen.real_class_mix, name=t("real mix (true labels)"), meta="real_mix",
                             mode="markers",
                             marker=dict(symbol="line-ew", size=26, line=dict(width=3, color="#d62728"))))
    fig.add_hline(y=COVERAGE_THRESHOLD, line=dict(color="grey", dash="dot", width=1),
                  annotation_text=f"{COVERAGE_THRESHOLD:.0%}", annotation_position="top right")
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
                      yaxis=dict(title=t("fraction of images"), tickformat=".0%"))
    return fig


# ---- the Lesson page ----------------------------------------------------------------------------

G_COLOR, D_COLOR = COLORS["g_loss"], COLORS["d_loss"]


def _network_row(layers: list[Layer], y: float, color: str, key: str, name: str, ends: tuple[str, str],
                 biggest: int) -> list[dict]:
    """One network as a row of squares (its vectors, area by width) joined by its Linear layers' labels."""
    widths = [layers[0].in_features] + [l.out_features for l in layers]
    x = np.arange(len(widths), dtype=float)
    sizes = [8 + 52 * (w / biggest) ** 0.5 for w in widths]
    labels = [f"{w:,}" for w in widths]
    labels[0], labels[-1] = f"{ends[0]} · {labels[0]}", f"{labels[-1]} · {ends[1]}"
    vectors = dict(type="scatter", x=x, y=[y] * len(x), mode="markers+text", meta=key, name=name, showlegend=False,
                   text=labels, textposition="bottom center", customdata=widths, hoverinfo="skip",
                   marker=dict(symbol="square", size=sizes, color=color, line=dict(color="white", width=1)))
    # Each Linear between two vectors: its shape and parameter count, then the activation after it.
    linear = dict(type="scatter", x=(x[:-1] + x[1:]) / 2, y=[y + 0.22] * len(layers), mode="text", meta=f"{key}.layers",
                  name=name, showlegend=False, customdata=[l.params for l in layers], hoverinfo="skip",
                  text=[f"Linear {l.in_features:,}→{l.out_features:,}<br><b>{l.params:,}</b>"
                        + (f"<br>{l.activation}" if l.activation else "") for l in layers],
                  textfont=dict(size=11, color="#444"))
    spine = dict(type="scatter", x=[x[0], x[-1]], y=[y, y], mode="lines", meta=f"{key}.spine", name=name,
                 showlegend=False, hoverinfo="skip", line=dict(color=color, width=1))
    return [spine, vectors, linear]


def network_figure(g_layers: list[Layer], d_layers: list[Layer], d_in_file: bool = True) -> go.Figure:
    """G above D, each drawn from its Linear layers: vector widths, each layer's parameters, the totals."""
    biggest = max(max(l.in_features, l.out_features) for l in (*g_layers, *d_layers))
    g_total, d_total = sum(l.params for l in g_layers), sum(l.params for l in d_layers)
    g_name = t("Generator G: {n:,} parameters", n=g_total)
    d_name = (t("Discriminator D: {n:,} parameters", n=d_total) if d_in_file
              else t("Discriminator D: {n:,} parameters (not in this file: its shape from the settings)", n=d_total))
    traces = [*_network_row(g_layers, 1.0, G_COLOR, "G", g_name, ("z", t("image")), biggest),
              *_network_row(d_layers, 0.0, D_COLOR, "D", d_name, (t("image"), t("probability real")), biggest)]
    notes = [dict(x=-0.3, y=y + 0.55, xref="x", yref="y", xanchor="left", showarrow=False, text=f"<b>{name}</b>",
                  font=dict(size=13, color=color)) for y, name, color in ((1.0, g_name, G_COLOR), (0.0, d_name, D_COLOR))]
    n = max(len(g_layers), len(d_layers))
    return go.Figure(data=traces, layout=dict(
        height=360, margin=dict(l=10, r=10, t=10, b=10), annotations=notes, hovermode=False,
        xaxis=dict(visible=False, range=[-0.35, n + 0.35], fixedrange=True),
        yaxis=dict(visible=False, range=[-0.5, 1.62], fixedrange=True)))


def step_figure(a: StepAnatomy) -> go.Figure:
    """Every image of the step's batch: D's score before and after each update, one line per image."""
    rows = [("real", t("real x"), a.d_real, a.d_real_after, COLORS["d_x"]),
            ("fake", "G(z)", a.d_fake, a.d_fake_after, COLORS["d_g_z"]),
            ("fake_g", "G(z) → G'(z)", a.d_fake_after, a.d_fake_after_g, G_COLOR)]
    n = len(a.d_real)
    jitter = (np.arange(n) % 10 - 4.5) / 25   # images spread over each row's height, so their lines do not overlap
    traces, arrows = [], []
    for i, (key, name, before, after, color) in enumerate(rows):
        y = len(rows) - 1 - i + jitter
        segments_x = np.stack([before, after, np.full(n, np.nan)], 1).ravel()
        segments_y = np.stack([y, y, np.full(n, np.nan)], 1).ravel()
        traces += [
            dict(type="scatter", x=segments_x, y=segments_y, mode="lines", meta=f"{key}.moves", name=name,
                 showlegend=False, hoverinfo="skip", line=dict(color=color, width=1), opacity=0.4),
            dict(type="scatter", x=before, y=y, mode="markers", meta=f"{key}.before", name=t("{name}, before", name=name),
                 showlegend=False, hoverinfo="x", marker=dict(color="white", size=6, line=dict(color=color, width=1))),
            dict(type="scatter", x=after, y=y, mode="markers", meta=f"{key}.after", name=t("{name}, after", name=name),
                 showlegend=False, hoverinfo="x", marker=dict(color=color, size=6)),
            dict(type="scatter", x=[before.mean(), after.mean()], y=[len(rows) - 1 - i + 0.36] * 2, mode="markers",
                 meta=f"{key}.mean", name=t("{name}, mean", name=name), showlegend=False, hoverinfo="x",
                 marker=dict(color=["white", color], size=9, line=dict(color=color, width=2))),
        ]
        # The mean's move as an arrow: Plotly draws a data-to-data arrow only as an annotation.
        arrows.append(dict(x=after.mean(), y=len(rows) - 1 - i + 0.36, ax=before.mean(), ay=len(rows) - 1 - i + 0.36,
                           xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True, arrowhead=2,
                           arrowsize=1.2, arrowwidth=2.5, arrowcolor=color, standoff=4, startstandoff=4))
    half = dict(type="line", x0=0.5, x1=0.5, yref="paper", y0=0, y1=1, line=dict(color="grey", dash="dash", width=1))
    return go.Figure(data=traces, layout=dict(
        height=260, margin=dict(l=10, r=10, t=10, b=10), shapes=[half], annotations=arrows, hovermode="closest",
        xaxis=dict(title=dict(text=t("D's output: its probability that the image is real")), range=[-0.02, 1.02]),
        yaxis=dict(tickvals=[2, 1, 0], ticktext=[name for _, name, *_ in rows], range=[-0.3, 2.5], fixedrange=True)))


def settle_figure(history: dict[str, list[float]], last: int) -> go.Figure:
    """D(x) and D(G(z)) epoch by epoch over a whole run, its last `last` epochs shaded, their averages and 0.5 marked."""
    x = np.asarray(history["epoch"], dtype=float) + 1   # epochs trained
    traces = []
    for short in VERDICTS:
        name = next((n for n in ("mean_" + short, short) if n in history), None)
        if name is None:
            continue
        y = np.asarray(history[name], dtype=np.float32)
        traces.append(dict(type="scatter", x=x, y=y, mode="lines", name=t(NAMES[short]), meta=short,
                           line=dict(color=COLORS[short], width=2)))
        tail = float(y[-last:].mean())
        traces.append(dict(type="scatter", x=[x[-last], x[-1]], y=[tail, tail], mode="lines+text", meta=f"{short}.settled",
                           name=t("{name}, last {n} epochs", name=t(NAMES[short]), n=last), showlegend=False,
                           text=["", f"<b>{tail:.2f}</b>"], textposition="top left",
                           line=dict(color="black", width=2, dash="dot")))
    window = dict(type="rect", x0=float(x[-last]), x1=float(x[-1]), yref="paper", y0=0, y1=1, line=dict(width=0),
                  fillcolor="rgba(0,0,0,0.06)")
    half = dict(type="line", xref="paper", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="grey", dash="dash", width=1))
    note = dict(xref="paper", x=0, y=0.5, yanchor="bottom", xanchor="left", showarrow=False,
                text=t("0.5: D cannot tell"), font=dict(color="grey", size=11))
    return go.Figure(data=traces, layout=dict(
        height=300, margin=dict(l=10, r=10, t=30, b=10), shapes=[window, half], annotations=[note],
        hovermode="x unified", legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        xaxis=dict(title=dict(text=t("epochs trained"))),
        yaxis=dict(title=dict(text=t("D's output")), range=[0, 1.02])))


def latent_map_figure(picture_png: bytes, rows: int, cols: int, cell: int, pad: int, scale: int,
                      chosen: int | None = None) -> go.Figure:
    """A grid picture (gan_core.grid of rows x cols cells of `cell` px, `pad` px apart, enlarged `scale` times)
    with one invisible square marker over each cell, so that a click selects the cell (point index row * cols + col).

    Plotly's image and heatmap traces report no selection (Streamlit issue 8760); scatter points do.
    The chosen cell, if any, is outlined.
    """
    import base64

    pitch = (cell + pad) * scale
    width, height = (cols * (cell + pad) + pad) * scale, (rows * (cell + pad) + pad) * scale
    centre = lambda i: (pad + cell / 2) * scale + i * pitch   # noqa: E731
    x = np.array([centre(c) for r in range(rows) for c in range(cols)], dtype=np.float32)
    y = np.array([centre(r) for r in range(rows) for c in range(cols)], dtype=np.float32)
    source = "data:image/png;base64," + base64.b64encode(picture_png).decode("ascii")
    shapes = []
    if chosen is not None:
        r, c = divmod(chosen, cols)
        x0, y0 = (pad / 2) * scale + c * pitch, (pad / 2) * scale + r * pitch
        shapes.append(dict(type="rect", x0=x0, y0=y0, x1=x0 + pitch, y1=y0 + pitch,
                           line=dict(color="#ff4b4b", width=3)))
    return go.Figure(
        data=[dict(type="image", source=source, hoverinfo="skip", meta="picture"),
              dict(type="scatter", x=x, y=y, mode="markers", meta="cells", hoverinfo="none", showlegend=False,
                   marker=dict(symbol="square", size=cell * scale * 0.95, color="rgba(0,0,0,0)"),
                   selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))],
        layout=dict(width=width, height=height, margin=dict(l=0, r=0, t=0, b=0), shapes=shapes,
                    xaxis=dict(visible=False, range=[0, width], fixedrange=True),
                    yaxis=dict(visible=False, range=[height, 0], fixedrange=True, scaleanchor="x"),
                    dragmode=False, clickmode="event+select", showlegend=False))


SIDES = {"a": ("A", "solid"), "b": ("B", "dash")}   # the Compare page's two runs: a name and a line style each


def compare_figure(histories: dict[str, dict[str, list[float]]], curves: str, epoch: int | None) -> go.Figure:
    """Two runs' per-epoch curves (a key of CURVES) overlaid against epochs trained: each curve in its own colour,
    run A's solid and run B's dashed; the epoch whose samples are shown marked. histories: "a"/"b" -> history."""
    keys, title, y_title = CURVES[curves]
    traces, top = [], 1
    for side, history in histories.items():
        letter, dash = SIDES[side]
        if not history.get("epoch"):
            continue
        # history["epoch"] counts from 0 as the book's printout does: row e is the (e+1)-th epoch.
        x = np.asarray(history["epoch"], dtype=float) + 1
        top = max(top, int(x.max()))
        for short in keys:
            name = next((n for n in ("mean_" + short, short) if n in history), None)
            if name is None:
                continue
            traces.append(dict(type="scatter", x=x, y=np.asarray(history[name], dtype=np.float32), mode="lines+markers",
                               name=f"{letter} · {t(NAMES[short])}", meta=f"{side}.{short}", legendgroup=side,
                               line=dict(color=COLORS[short], width=2, dash=dash), marker=dict(size=4)))
    shapes = []
    if curves == "verdicts":
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=0.5, y1=0.5,
                           line=dict(color="grey", dash="dot", width=1)))
    if epoch is not None:
        shapes.append(dict(type="line", yref="paper", x0=epoch, x1=epoch, y0=0, y1=1,
                           line=dict(color="grey", dash="dot", width=1)))
    return go.Figure(data=traces, layout=dict(
        title=dict(text=t(title), font=dict(size=15)), height=380, margin=dict(l=10, r=10, t=40, b=100),
        hovermode="x unified", shapes=shapes,
        # Below the axis title, in a margin of its own: four names in two rows where the chart is narrow.
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0.01, xanchor="left", x=0),
        xaxis=dict(title=dict(text=t("epochs trained")), range=[0.5, top + 0.5]),
        yaxis=dict(title=dict(text=t(y_title)), **({"range": [0, 1.02]} if curves == "verdicts" else {}))))
