"""The live generator: G runs in the reader's browser, so its picture moves with the mouse.

A Streamlit slider reports its value only when the mouse is released, and each change is a
round trip to the server. The book's G is small (64 -> 256 -> 256 -> 784, 283,920 weights), so
this component sends its weights to the page once and draws G(z) there on every input event,
once per display frame (explorer/live_generator.js, an st.components.v2 module: no iframe, no
build step). On release it reports the position to Python, which judges it with D and keeps it.

    from explorer import live_generator as live
    if not live.latent_explorer(model, key, base=..., amounts=..., directions=..., labels=...,
                                on_change=...):
        ...   # the server path: this generator cannot run in the page (live.supports says why)

Where the weights go: only to the session that asked to see this model (the model picker's
choice, passed in by the page), once per model per browser page. The page keeps them by model
key; should it have lost them (a reload keeps Python's record but not the page's), it asks again.
They travel as float32: float16 halves the payload but moved 2.3% of the book's G's pixels by a
grey level and can move one by two, more than the 1/255 the browser's pictures are held to.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st
import torch
from torch import nn

from gan_core import GANConfig

from . import env
from .i18n import t
from .plain import plain

_HERE = Path(__file__).resolve().parent
# Registered once per server process; st.components.v2 re-registers it on each AppTest runtime.
_COMPONENT = st.components.v2.component(
    "gan_explorer.live_generator",
    js=(_HERE / "live_generator.js").read_text(encoding="utf-8"),
    css=(_HERE / "live_generator.css").read_text(encoding="utf-8"),
)

SENT = "live.sent"            # session state: model keys whose weights this session's page was sent, oldest first
OFF = "live.off"              # session state: why this session's page cannot run G (no canvas, bad weights)
MAX_MODELS = 4                # weights the page keeps (MAX_MODELS in live_generator.js)
G_KEYS = ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")   # the order the page reads them in
SCALE = 12                    # the picture at up to 336 px, as the Latent page's server picture
STRIP_SCALE = 2               # strips' frames at 56 px, as on the server page
WALK_SCALE = 8                # the Interpolate page's frames at up to 224 px
MAP_SCALE = 2                 # the latent map's cells at 56 px, as on the server page
MAP_PAD = 1                   # black pixels between the map's cells
TWO_COLUMNS_PX = 640          # picture beside the sliders from this width, above them below it
PERIOD_MS = 2000              # Play: A to B in 2 s, then back
PLAY_MS = 1500                # a steering walk plays in 1.5 s, as on the server page
# 4 MB of float32 (5.3 MB of base64) at most, once per model per page: ten times the book's G. A valid
# checkpoint may be far wider (hidden_dim up to 16,384: a gigabyte), and is drawn on the server.
MAX_WEIGHTS = 1_000_000
LIMIT = 1e3                   # no z coordinate from the page beyond this (z ~ N(0, 1): a bug or a forgery)


def supports(config: GANConfig) -> bool:
    """Whether this generator can run in the page: the book's MLP can, up to MAX_WEIGHTS weights; any other
    architecture (a DCGAN's convolutions) is drawn on the server."""
    return getattr(config, "arch", "mlp") == "mlp" and weight_count(config) <= MAX_WEIGHTS


def weight_count(config: GANConfig) -> int:
    """G's weights and biases: (latent + 1) hidden + (hidden + 1) hidden + (hidden + 1) image_dim."""
    h = config.hidden_dim
    return (config.latent_dim + 1) * h + (h + 1) * h + (h + 1) * config.image_dim


def _why_not(config: GANConfig) -> str:
    """Why G cannot run in this page, in one line: its architecture, its size, or the browser (it said why)."""
    if getattr(config, "arch", "mlp") != "mlp":
        return t("This generator ({arch}) is drawn on the server: its picture changes when you let go of a slider.",
                 arch=plain(str(getattr(config, "arch", "?")), 40))
    if not supports(config):
        return t("This generator has {n:,} weights, too many to send to the browser: its picture is drawn on the "
                 "server and changes when you let go of a slider.", n=weight_count(config))
    return t("This browser cannot draw G's pictures itself ({why}): they are drawn on the server when you let go "
             "of a slider.", why=plain(str(st.session_state.get(OFF)), 200))


def live(config: GANConfig) -> bool:
    """Whether this page may use the live component: the server allows it (GAN_EXPLORER_LIVE), the model can
    run in the page and the page can draw."""
    return env.live_generator() and supports(config) and not st.session_state.get(OFF)


def server_note(config: GANConfig) -> str | None:
    """One line saying why the pictures are drawn on the server, or None where nobody needs telling: the
    pictures move with the mouse, or the server was started with GAN_EXPLORER_LIVE=0 on purpose."""
    if live(config) or not env.live_generator():
        return None
    return _why_not(config)


@st.cache_resource(show_spinner=False, max_entries=MAX_MODELS * 2)
def _weights_b64(_G: nn.Module, key: str) -> str:
    """G's weights as base64 float32 little-endian in G_KEYS order (1,135,680 bytes, 1,514,240 characters)."""
    sd = _G.state_dict()
    flat = np.concatenate([sd[k].detach().to("cpu", torch.float32).numpy().ravel() for k in G_KEYS])
    return base64.b64encode(flat.astype("<f4").tobytes()).decode("ascii")


def _model_data(G: nn.Module, config: GANConfig, key: str) -> dict:
    """What the page needs to run G: its shape, and its weights unless this session's page already holds them."""
    sent = st.session_state.setdefault(SENT, [])
    data = {"model": key, "shape": [config.latent_dim, config.hidden_dim, config.image_dim],
            "image_size": config.image_size, "latent_dim": config.latent_dim, "weights": None}
    if key not in sent:
        data["weights"] = _weights_b64(G, key)
        sent.append(key)
        del sent[:-MAX_MODELS]
    return data


def _resend(component_key: str) -> None:
    """The page lacks the weights Python thought it had: send them with the next drawing."""
    asked = st.session_state[component_key].get("need_weights")
    sent = st.session_state.get(SENT, [])
    if asked in sent:
        sent.remove(asked)


def _off(component_key: str, why: str) -> None:
    """The page cannot run G (it said why): this session's pages draw on the server from now on."""
    st.session_state[OFF] = why if why != "trouble" else str(st.session_state[component_key].get("trouble"))[:200]


def _numbers(v: object, n: int) -> list[float] | None:
    """v as n finite floats within ±LIMIT, or None: what the page reports is checked like any input."""
    if not isinstance(v, list) or len(v) != n:
        return None
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= LIMIT
               for x in v):
        return None
    return [float(x) for x in v]


def _mount(data: dict, key: str, on_position: Callable[[dict], None], check: Callable[[object], dict | None]):
    def changed() -> None:
        position = check(st.session_state[key].get("position"))
        if position is not None:
            on_position(position)
    return _COMPONENT(key=key, data=data, on_position_change=changed,
                      on_need_weights_change=lambda: _resend(key),
                      on_canvas_change=lambda: _off(key, "no canvas"), on_trouble_change=lambda: _off(key, "trouble"))


def latent_explorer(G: nn.Module, config: GANConfig, model_key: str, *, base: list[float], amounts: list[float],
                    directions: torch.Tensor | None, labels: list[str], helps: list[str | None] | None = None,
                    caption: str = "", on_change: Callable[[dict], None], raw_open: bool = False,
                    scale: int = SCALE, picture_vh: float | None = None, columns: tuple[int, int] = (1, 1),
                    play: tuple[int, torch.Tensor] | None = None, key: str = "live.latent") -> bool:
    """The picture G(z), the direction sliders with their strips and z's own sliders, all drawn in the page.

    z = base + sum_i amounts[i] directions[i] (explorer.latent_tools.compose). On release, on_change
    gets {"base": [...], "amounts": [...]} (checked: right lengths, finite numbers) before the script
    reruns, as a widget callback. Returns False, drawing nothing, where G cannot run in the page
    (live() says no): the caller draws its server path instead.
    play: (an id, a path of z (T, latent)): the path plays once in the picture (PLAY_MS, slerp between its
    points), once per id; a steering walk, say, whose end is the new base.
    Layout: the picture beside the sliders (width shared as `columns`) from TWO_COLUMNS_PX, above them
    below it; enlarged by the largest whole number up to `scale` that fits its column and, with
    picture_vh (a projector), keeps it within that share of the window's height.
    """
    if not live(config):
        return False
    k = 0 if directions is None else len(directions)
    dim = config.latent_dim

    def check(v: object) -> dict | None:
        if not isinstance(v, dict):
            return None
        b, a = _numbers(v.get("base"), dim), _numbers(v.get("amounts"), k)
        return None if b is None or a is None else {"base": b, "amounts": a}

    data = _model_data(G, config, model_key) | {
        "mode": "latent",
        "position": {"base": [float(x) for x in base], "amounts": [float(x) for x in amounts]},
        "directions": [] if directions is None else directions.to(torch.float32).tolist(),
        "labels": list(labels), "helps": list(helps) if helps else None, "caption": caption,
        "span": 3.0, "step": 0.1, "strip_frames": 7, "raw_range": 3.0, "raw_step": 0.05, "raw_max": 128,
        "raw_open": raw_open, "scale": int(scale), "picture_vh": picture_vh, "columns": list(columns),
        "strip_scale": STRIP_SCALE, "two_columns_px": TWO_COLUMNS_PX,
        "play": None if play is None else {"id": int(play[0]), "path": play[1].to(torch.float32).tolist(),
                                           "ms": PLAY_MS},
        "text": {"picture": t("G(z): the generator's picture of this z"),
                 "strip": t("{label}: the starting picture moved from −3 to +3", label="{label}"),
                 "raw_title": t("All {dim} numbers of z", dim=dim),
                 "raw_note": t("Values beyond ±3 are shown at ±3.")},
    }
    _mount(data, key, on_change, check)
    return True


def walk(G: nn.Module, config: GANConfig, model_key: str, a: torch.Tensor, b: torch.Tensor, frames: int, *,
         frame: int, scores: dict[str, list[float]] | None = None, on_change: Callable[[dict], None] | None = None,
         modes: tuple[str, ...] = ("lerp", "slerp"), scale: int = WALK_SCALE, picture_vh: float | None = None,
         key: str = "live.walk") -> bool:
    """The walks from a to b (lerp and slerp, as gan_core.interpolate makes them; `modes` picks), drawn in the page.

    A frame slider (1..frames) shows frame i of each; Play runs t from 0 to 1 and back continuously.
    scores: D's verdict on each frame, {"lerp": [...], "slerp": [...]}, shown beside the frame number.
    On release of the frame slider on_change gets {"frame": i}. False where G cannot run in the page.
    """
    if not live(config):
        return False
    if not modes or any(m not in ("lerp", "slerp") for m in modes):
        raise ValueError(f"modes must be lerp and/or slerp, got {modes!r}")

    def check(v: object) -> dict | None:
        f = v.get("frame") if isinstance(v, dict) else None
        return {"frame": f} if isinstance(f, int) and not isinstance(f, bool) and 1 <= f <= frames else None

    data = _model_data(G, config, model_key) | {
        "mode": "walk", "frames": int(frames), "modes": list(modes), "scale": int(scale), "picture_vh": picture_vh,
        "period_ms": PERIOD_MS,
        "position": {"a": a.reshape(-1).tolist(), "b": b.reshape(-1).tolist(), "frame": int(frame)},
        "scores": None if scores is None else {m: [float(x) for x in scores[m]] for m in modes},
        "text": {"modes": {"lerp": t("Linear (lerp)"), "slerp": t("Spherical (slerp)")}, "frame": t("Frame"),
                 "play": t("Play"), "pause": t("Pause"),
                 "caption": t("{mode}, frame {frame}/{frames}", mode="{mode}", frame="{frame}", frames="{frames}")},
    }
    _mount(data, key, on_change or (lambda position: None), check)
    return True


def plane(G: nn.Module, config: GANConfig, model_key: str, corners: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
          rows: int, cols: int, mode: str, *, cell: int | None, caption: str = "",
          on_change: Callable[[dict], None], key: str = "live.plane") -> bool:
    """The latent map (gan_core.latent_plane's grid through corners A, B, C) drawn in the page, beside a large
    picture of the point under the pointer: any point of the plane, between the cells too.

    A click (or Enter on a cell chosen with the arrow keys) gives on_change {"cell": index}, row by row,
    the index into latent_plane's z reshaped to (rows * cols, latent). False where G cannot run in the page.
    """
    if not live(config):
        return False
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"mode must be lerp or slerp, got {mode!r}")

    def check(v: object) -> dict | None:
        c = v.get("cell") if isinstance(v, dict) else None
        return {"cell": c} if isinstance(c, int) and not isinstance(c, bool) and 0 <= c < rows * cols else None

    a, b, c = (z.reshape(-1).to(torch.float32).tolist() for z in corners)
    data = _model_data(G, config, model_key) | {
        "mode": "plane", "rows": int(rows), "cols": int(cols), "pad": MAP_PAD, "scale": MAP_SCALE,
        "preview_scale": WALK_SCALE, "caption": caption,
        "position": {"a": a, "b": b, "c": c, "mode": mode, "cell": cell},
        "text": {"map": t("Map: a plane through three z"),
                 "preview": t("G(z) at the point under the pointer"),
                 "cell": t("Row {row}, column {col}", row="{row}", col="{col}")},
    }
    _mount(data, key, on_change, check)
    return True
