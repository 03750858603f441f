"""Interpolate page: walk from one z to another, in a straight line and along the sphere, frame by frame."""
from __future__ import annotations

import random

import streamlit as st
import torch

from gan_core import d_scores, decode, gif_bytes, interpolate, png_bytes, strip, upscale, z_from_seed
from explorer import latent_tools, model_picker
from explorer.i18n import N_, t

MODES = {"lerp": N_("Linear (lerp)"), "slerp": N_("Spherical (slerp)")}
SOURCES = {"seed": N_("Seed"), "latent": N_("Latent page"),   # where an endpoint's z comes from
           "projected": N_("Projected image")}
GIF_SCALE = 6        # 28 px frames at 168 px
FRAME_SCALE = 8      # the scrubbed frame at 224 px


def _randomise(name: str) -> None:
    st.session_state[f"interp.{name}.seed"] = random.randrange(10_000)


def endpoint(name: str, default_seed: int, dim: int) -> torch.Tensor:
    """One end of the walk: a seed's z (typed or random), or the Latent page's current z; (dim,)."""
    st.session_state.setdefault(f"interp.{name}.src", "seed")
    st.session_state.setdefault(f"interp.{name}.seed", default_seed)
    st.markdown(f"**{name}**")
    shown = {k: t(v) for k, v in SOURCES.items()}   # translated here: format_func may be called outside this run
    src = st.radio(t("{end} from", end=name), list(SOURCES), format_func=shown.__getitem__,
                   key=f"interp.{name}.src", horizontal=True, label_visibility="collapsed", persist_state="session")
    if src == "latent":
        z = st.session_state.get("latent.z")
        if z is not None and len(z) == dim:
            st.caption(t("The z set by the sliders on the Latent space page."))
            return torch.tensor(z)
        st.caption(t("The Latent space page has not been opened yet: using its starting z (seed 0)."))
        return z_from_seed(0, 1, dim)[0]
    if src == "projected":
        return projected(name, dim)
    c = st.columns([3, 1], vertical_alignment="bottom")
    seed = c[0].number_input(t("Seed"), 0, 2**31 - 1, key=f"interp.{name}.seed", persist_state="session")
    c[1].button(t("Random"), icon=":material/casino:", key=f"interp.{name}.random", on_click=_randomise, args=(name,),
                width="stretch")
    return z_from_seed(int(seed), 1, dim)[0]


def projected(name: str, dim: int) -> torch.Tensor:
    """An endpoint from a projection kept on the Project an image page (made with this generator)."""
    kept = latent_tools.kept(latent_tools.model_key(model.G))
    if not kept:
        st.caption(t("No projected image kept for this generator yet: project one on the Project an image page "
                     "and press Keep. Using seed 0 meanwhile."))
        return z_from_seed(0, 1, dim)[0]
    by_picture = {p["picture"]: p for p in kept}
    if st.session_state.get(f"interp.{name}.projected") not in by_picture:
        st.session_state[f"interp.{name}.projected"] = kept[0]["picture"]
    c = st.columns([1, 3], vertical_alignment="center")
    key = c[1].selectbox(t("Projected image"), list(by_picture), format_func=lambda k: by_picture[k]["name"],
                         key=f"interp.{name}.projected", label_visibility="collapsed")
    chosen = by_picture[key]
    c[0].image(png_bytes(upscale(chosen["target"], 2)), output_format="PNG")
    c[1].caption(t("The z whose picture comes closest to it (pixel error {mse:.3f}).", mse=chosen["mse"]))
    return torch.tensor(chosen["z"])


@st.fragment
def scrubber(frames: dict, scores: dict | None) -> None:
    """One slider over the frames; both walks' frame shown large, so they can be compared step by step."""
    n = len(frames["lerp"])
    i = st.slider(t("Frame"), 1, n, n // 2 + 1, key="interp.frame",
                  help=t("Starts at the middle, where the two walks differ most.")) - 1
    for col, mode in zip(st.columns(2), MODES):
        verdict = f" · D = {scores[mode][i]:.2f}" if scores else ""
        caption = t("{mode}, frame {frame}/{frames}", mode=t(MODES[mode]), frame=i + 1, frames=n)
        col.image(upscale(frames[mode][i], FRAME_SCALE), caption=caption + verdict, output_format="PNG")


st.title(t("Interpolate"))
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
    st.stop()

dim = model.config.latent_dim
st.caption(t("z is drawn from N(0, I) in {dim} dimensions, so it nearly always lies close to a sphere of radius "
             "√{dim} ≈ {radius:.0f}. A straight line between two such points cuts inside the sphere, where G "
             "was rarely trained; the spherical path stays on it.", dim=dim, radius=dim ** 0.5))
left, right = st.columns(2)
with left:
    a = endpoint("A", 1, dim)
with right:
    b = endpoint("B", 2, dim)
n = st.slider(t("Frames"), 3, 32, 10, key="interp.frames", persist_state="session")

frames = {mode: decode(model.G, interpolate(a, b, n, mode), model.config.image_size) for mode in MODES}  # (n, 28, 28)
scores = {mode: d_scores(model.D, f) for mode, f in frames.items()} if model.D is not None else None
strips = {mode: png_bytes(strip(f)) for mode, f in frames.items()}   # long walks wrap onto more rows

for col, mode in zip(st.columns(2), MODES):
    with col:
        st.subheader(t(MODES[mode]))
        gif = gif_bytes(upscale(frames[mode], GIF_SCALE), frame_ms=120)
        st.image(gif, caption=t("Plays there and back, endlessly"))  # auto keeps a GIF a GIF
        d = st.columns(2)
        d[0].download_button("GIF", gif, file_name=f"walk-{mode}.gif", mime="image/gif", on_click="ignore",
                             icon=":material/download:", key=f"interp.dl.gif.{mode}", width="stretch")
        d[1].download_button(t("PNG strip"), strips[mode], file_name=f"walk-{mode}.png", mime="image/png",
                             on_click="ignore", icon=":material/download:", key=f"interp.dl.png.{mode}",
                             width="stretch")

st.subheader(t("Frame by frame"))
scrubber(frames, scores)
for mode in MODES:
    st.image(strips[mode], caption=t("{mode}: A → B", mode=t(MODES[mode])), output_format="PNG")
