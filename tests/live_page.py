"""A page that shows explorer.live_generator alone, for tests/test_live_generator.py and bench/live_drag.py.

    streamlit run tests/live_page.py        # ?mode=latent (default), walk, plane (the latent map), both
                                            # (latent and plane, as the Latent page would have them), or
                                            # server (an architecture the page cannot run: the server path)

The model is checkpoints/book.pt unless GAN_EXPLORER_LIVE_CHECKPOINT names another. What the page
reports on release is written under the component (releases, the base z, D's verdict), so a test
can read it as a person would.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from gan_core import (d_scores, decode, interpolate, load_checkpoint, png_bytes, upscale,  # noqa: E402
                      z_from_seed)
from explorer import latent_tools  # noqa: E402
from explorer import live_generator as live  # noqa: E402

CHECKPOINT = os.environ.get("GAN_EXPLORER_LIVE_CHECKPOINT", str(ROOT / "checkpoints" / "book.pt"))


@st.cache_resource
def model(path: str):
    ck = load_checkpoint(path)
    return ck.build_generator("cpu"), ck.build_discriminator("cpu"), ck.config


@dataclasses.dataclass(frozen=True)
class OtherArch:
    """The model's config with another architecture named: one the page cannot run (a DCGAN, say)."""

    latent_dim: int
    hidden_dim: int
    image_size: int
    arch: str = "dcgan"

    @property
    def image_dim(self) -> int:
        return self.image_size ** 2


st.set_page_config(page_title="live generator", layout="wide")
G, D, config = model(CHECKPOINT)
key = latent_tools.model_key(G)
mode = st.query_params.get("mode", "latent")
# ?present=1: the layout presenter mode asks for (explorer/presenter.py: the picture at 62% of the screen's height)
PRESENTER = dict(scale=20, picture_vh=62, columns=(3, 2)) if st.query_params.get("present") == "1" else {}
if mode == "server":
    config = OtherArch(config.latent_dim, config.hidden_dim, config.image_size)
dim = config.latent_dim
dirs = latent_tools.directions(G, key, dim)
k = len(dirs.vectors)
st.session_state.setdefault("t.base", z_from_seed(0, 1, dim)[0].tolist())
st.session_state.setdefault("t.amounts", [0.0] * k)
st.session_state.setdefault("t.releases", 0)


def released(position: dict) -> None:
    st.session_state["t.releases"] += 1
    for name in position:
        st.session_state[f"t.{name}"] = position[name]


def seed_changed() -> None:
    st.session_state["t.base"] = z_from_seed(int(st.session_state["t.seed"]), 1, dim)[0].tolist()
    st.session_state["t.amounts"] = [0.0] * k


if mode in ("latent", "server", "both"):
    st.number_input("seed", 0, 10_000, 0, key="t.seed", on_change=seed_changed)
    z = latent_tools.compose(st.session_state["t.base"], st.session_state["t.amounts"], dirs)
    image = decode(G, z[None], config.image_size)
    verdict = f"D: {float(d_scores(D, image)[0]):.4f}"
    play = None
    if st.button("Walk to seed 5"):   # as steering does: the walk plays in the picture, its end is the new base
        path = interpolate(z_from_seed(0, 1, dim)[0], z_from_seed(5, 1, dim)[0], 10, "slerp")
        st.session_state["t.base"], st.session_state["t.amounts"] = path[-1].tolist(), [0.0] * k
        st.session_state["t.walks"] = st.session_state.get("t.walks", 0) + 1
        play = (st.session_state["t.walks"], path)
        z = latent_tools.compose(st.session_state["t.base"], st.session_state["t.amounts"], dirs)
        verdict = f"D: {float(d_scores(D, decode(G, z[None], config.image_size))[0]):.4f}"
    drawn = live.latent_explorer(G, config, key, base=st.session_state["t.base"],
                                 amounts=st.session_state["t.amounts"], directions=dirs.vectors,
                                 labels=[f"Direction {i + 1}" for i in range(k)], caption=verdict,
                                 on_change=released, play=play, **PRESENTER)
    if not drawn:   # the server path: Streamlit's sliders, a picture per release
        if note := live.server_note(config):
            st.caption(note)
        for i in range(k):
            st.slider(f"Direction {i + 1}", -3.0, 3.0, float(st.session_state["t.amounts"][i]), 0.1, key=f"t.s{i}")
        amounts = [st.session_state[f"t.s{i}"] for i in range(k)]
        z = latent_tools.compose(st.session_state["t.base"], amounts, dirs)
        st.image(png_bytes(upscale(decode(G, z[None], config.image_size)[0], 8)), caption="server picture")
    if mode == "both":
        live.plane(G, config, key, tuple(z_from_seed(s, 1, dim)[0] for s in (1, 2, 3)), 9, 9, "slerp", cell=None,
                   on_change=released)
    st.markdown(f"releases: {st.session_state['t.releases']}")
    st.markdown(verdict)
    st.code(json.dumps({"base": st.session_state["t.base"], "amounts": st.session_state["t.amounts"]}),
            language="json")
elif mode == "plane":
    st.session_state.setdefault("t.cell", None)
    corners = tuple(z_from_seed(s, 1, dim)[0] for s in (1, 2, 3))
    live.plane(G, config, key, corners, 9, 9, st.query_params.get("interp", "slerp"), cell=st.session_state["t.cell"],
               on_change=released)
    st.markdown(f"releases: {st.session_state['t.releases']}")
    st.markdown(f"cell: {st.session_state['t.cell']}")
else:
    a, b = z_from_seed(1, 1, dim)[0], z_from_seed(2, 1, dim)[0]
    n = 10
    st.session_state.setdefault("t.frame", n // 2 + 1)
    frames = {m: decode(G, interpolate(a, b, n, m), config.image_size) for m in ("lerp", "slerp")}
    scores = {m: d_scores(D, f).tolist() for m, f in frames.items()}
    modes = tuple(st.query_params.get("walks", "lerp,slerp").split(","))   # ?walks=slerp: one walk (a projector)
    live.walk(G, config, key, a, b, n, frame=st.session_state["t.frame"], scores=scores, on_change=released,
              modes=modes, **{k: v for k, v in PRESENTER.items() if k != "columns"})
    st.markdown(f"releases: {st.session_state['t.releases']}")
    st.markdown(f"frame: {st.session_state['t.frame']}")
