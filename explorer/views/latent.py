"""Latent space page: set each of z's dimensions by hand and watch G's picture and D's verdict follow.

Each column of sliders is its own fragment, and the picture sits in an
st.empty outside them that any column may redraw. Moving a slider then reruns
eight sliders and one generator forward (about a millisecond), not all 64
sliders: on this machine that took key press to new picture from about 500 ms
to about 110 ms median (bench/slider_latency.py; runner.postScriptGC = false in
.streamlit/config.toml did the rest).
"""
from __future__ import annotations

import random

import streamlit as st
import torch

from gan_core import d_scores, decode, png_bytes, upscale, z_from_seed
from explorer import model_picker, resources

Z_RANGE = 3.0      # slider range ±3: z ~ N(0, 1) per dimension, so 99.7 % of seeded values fit
Z_STEP = 0.05      # one arrow-key press
SCALE = 10         # 28 px shown at 280 px; nearest-neighbour, so pixels stay crisp squares
COLUMNS = 8
# Sliders drawn at most: a valid checkpoint may have a z of thousands (4,096 sliders took 22 s to draw
# and 41 s for Random); past this, the first MAX_SLIDERS dimensions get sliders, the rest keep the seed's values.
MAX_SLIDERS = 128


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


def draw(model, picture) -> None:
    """G(z) for the sliders' z into the picture slot, D's verdict under it.

    One element on purpose: each element is one more message per slider change, and on a busy
    two-core machine an image with a metric and a download button under it took 80 ms longer.
    """
    z = [st.session_state[_z_key(i)] for i in range(model.config.latent_dim)]
    st.session_state["latent.z"] = z  # the Interpolate page can start or end here
    image = decode(model.G, torch.tensor([z]), model.config.image_size)  # (1, 28, 28) uint8
    verdict = (f"D's verdict: {float(d_scores(model.D, image)[0]):.2f} (its probability that this image is real)"
               if model.D is not None else "No D in this file to judge the image")
    picture.image(png_bytes(upscale(image[0], SCALE)), caption=f"{verdict} · G from {model.source}",
                  output_format="PNG")


def slider_column(model, first: int, picture) -> None:
    """Sliders first, first+COLUMNS, ...: run as a fragment, so a change reruns only this column and the picture."""
    resources.manager().note_interaction()   # training children pause while this picture is on its way
    for i in range(first, min(model.config.latent_dim, MAX_SLIDERS), COLUMNS):
        st.slider(f"z{i}", -Z_RANGE, Z_RANGE, step=Z_STEP, format="%.2f", key=_z_key(i), persist_state="session")
    # Every column draws, in full runs too: a fragment may only redraw a slot outside it that it
    # wrote to in the last full run. The slot is an st.empty, so the last drawing is the one shown.
    draw(model, picture)


def explorer(model) -> None:
    dim = model.config.latent_dim
    st.session_state.setdefault("latent.seed", 0)
    if _z_key(0) not in st.session_state:
        _from_seed(dim)  # first visit: a seeded z rather than all zeros, which gives one dull average image
    for i in range(dim):
        st.session_state.setdefault(_z_key(i), 0.0)  # a model with a bigger z than the last one
    left, right = st.columns([1, 2], gap="large")
    picture = left.empty()
    with right:
        c = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
        c[0].number_input("Seed", 0, 2**31 - 1, key="latent.seed", persist_state="session", on_change=_from_seed,
                           args=(dim,), help="The z that this seed draws; the same on every machine.")
        c[1].button("Set from seed", on_click=_from_seed, args=(dim,), width="stretch")
        c[2].button("Random", icon=":material/casino:", on_click=_randomise, args=(dim,), width="stretch")
        c[3].button("Reset to zero", on_click=_set_z, args=([0.0] * dim,), width="stretch")
        for k, col in enumerate(st.columns(COLUMNS)):
            with col:
                st.fragment(slider_column)(model, k, picture)


st.title("Latent space")
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
else:
    st.caption(f"G turns {model.config.latent_dim} numbers, z, into an image. Move any slider (or focus one and use "
               "the arrow keys) to see how each direction of z changes the picture. Seeded values beyond ±3 are clipped.")
    if model.config.latent_dim > MAX_SLIDERS:
        st.info(f"This generator's z has {model.config.latent_dim:,} numbers: the first {MAX_SLIDERS} have sliders, "
                "and the rest keep the values the seed gave them (thousands of sliders would take the page tens of "
                "seconds to draw).", icon=":material/tune:")
    explorer(model)
