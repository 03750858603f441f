"""Latent space page: set each of z's dimensions by hand and watch G's picture and D's verdict follow.

The sliders and the picture share one fragment, so moving a slider reruns only
that fragment (a generator forward on one z, well under a millisecond).
"""
from __future__ import annotations

import random

import streamlit as st
import torch

from gan_core import d_scores, decode, png_bytes, upscale, z_from_seed
from explorer import widgets

Z_RANGE = 3.0      # slider range ±3: z ~ N(0, 1) per dimension, so 99.7 % of seeded values fit
Z_STEP = 0.05      # one arrow-key press
SCALE = 12         # 28 px shown at 336 px; nearest-neighbour, so pixels stay crisp squares
COLUMNS = 8


def _z_key(i: int) -> str:
    return f"latent.z{i}"


def _set_z(values: list[float]) -> None:
    """Move every slider (button callbacks, so it happens before the sliders are drawn)."""
    for i, v in enumerate(values):
        st.session_state[_z_key(i)] = round(min(max(float(v), -Z_RANGE), Z_RANGE), 2)


def _from_seed(dim: int) -> None:
    _set_z(z_from_seed(int(st.session_state["latent.seed"]), 1, dim)[0].tolist())


def _randomise(dim: int) -> None:
    st.session_state["latent.seed"] = random.randrange(10_000)
    _from_seed(dim)


@st.fragment
def explorer(model) -> None:
    import time as _t; _t0 = _t.perf_counter()
    dim = model.config.latent_dim
    st.session_state.setdefault("latent.seed", 0)
    if _z_key(0) not in st.session_state:
        _from_seed(dim)  # first visit: a seeded z rather than all zeros, which gives one dull average image
    picture, sliders = st.columns([1, 2], gap="large")
    with sliders:
        c = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
        c[0].number_input("Seed", 0, 2**31 - 1, key="latent.seed", persist_state="session")
        c[1].button("Set from seed", on_click=_from_seed, args=(dim,), width="stretch")
        c[2].button("Random", icon=":material/casino:", on_click=_randomise, args=(dim,), width="stretch")
        c[3].button("Reset to zero", on_click=_set_z, args=([0.0] * dim,), width="stretch")
        cols = st.columns(COLUMNS)
        z = []
        for i in range(dim):
            st.session_state.setdefault(_z_key(i), 0.0)  # a model with a bigger z than the last one
            z.append(cols[i % COLUMNS].slider(f"z{i}", -Z_RANGE, Z_RANGE, step=Z_STEP, format="%.2f",
                                              key=_z_key(i), persist_state="session"))
    _t1 = _t.perf_counter()
    # The Interpolate page can start or end at this z.
    st.session_state["latent.z"] = z
    image = decode(model.G, torch.tensor([z]), model.config.image_size)     # (1, 28, 28) uint8
    png = png_bytes(upscale(image[0], SCALE))
    with picture:
        st.image(png, caption=f"G(z), from {model.source}", output_format="PNG")
        if model.D is not None:
            score = float(d_scores(model.D, image)[0])
            st.metric("D's verdict: probability that this image is real", f"{score:.2f}")
        else:
            st.caption("This file holds only G, so there is no D to judge the image.")
        st.download_button("Image (PNG)", png, file_name="gan-explorer-z.png",
                           mime="image/png", on_click="ignore", icon=":material/download:")
    print(f"FRAG sliders {(_t1-_t0)*1e3:.1f} ms total {(_t.perf_counter()-_t0)*1e3:.1f} ms", flush=True)


st.title("Latent space")
model = widgets.model_picker()
if model is None:
    widgets.no_model_prompt()
else:
    st.caption("G turns 64 numbers, z, into an image. Move any slider (or focus one and use the arrow keys) to see "
               "how each direction of z changes the picture. Values beyond ±3 are clipped.")
    explorer(model)
