"""Interpolate page: walk from one z to another, in a straight line and along the sphere, frame by frame."""
from __future__ import annotations

import random

import streamlit as st
import torch

from gan_core import d_scores, decode, gif_bytes, interpolate, png_bytes, strip, upscale, z_from_seed
from explorer import latent_tools, live_generator, model_picker, presenter, share_link
from explorer.i18n import N_, t

MODES = {"lerp": N_("Linear (lerp)"), "slerp": N_("Spherical (slerp)")}
SOURCES = {"seed": N_("Seed"), "latent": N_("Latent page"),   # where an endpoint's z comes from
           "projected": N_("Projected image"), "link": N_("From the link")}   # "link": only once a link gave one
GIF_SCALE = 6        # 28 px frames at 168 px
FRAME_SCALE = 8      # the scrubbed frame at 224 px
PRESENT_SCALE = 20   # on a projector one walk's frame at about 500 px
FRAMES = (3, 32)     # the Frames slider's range


def _randomise(name: str) -> None:
    st.session_state[f"interp.{name}.seed"] = random.randrange(10_000)


def endpoint(name: str, default_seed: int, dim: int) -> torch.Tensor:
    """One end of the walk: a seed's z (typed or random), or the Latent page's current z; (dim,)."""
    st.session_state.setdefault(f"interp.{name}.src", "seed")
    st.session_state.setdefault(f"interp.{name}.seed", default_seed)
    st.markdown(f"**{name}**")
    linked = st.session_state.get(f"interp.{name}.linked")   # a z that a link gave
    sources = [k for k in SOURCES if k != "link" or (linked is not None and len(linked) == dim)]
    if st.session_state[f"interp.{name}.src"] not in sources:
        st.session_state[f"interp.{name}.src"] = "seed"
    shown = {k: t(SOURCES[k]) for k in sources}   # translated here: format_func may be called outside this run
    src = st.radio(t("{end} from", end=name), sources, format_func=shown.__getitem__,
                   key=f"interp.{name}.src", horizontal=True, label_visibility="collapsed", persist_state="session")
    if src == "link":
        st.caption(t("The z that the link gave."))
        return torch.tensor(linked)
    if src == "latent":
        z = st.session_state.get("latent.z")
        if z is not None and len(z) == dim:
            st.caption(t("The z set by the sliders on the Latent space page."))
            return torch.tensor(z)
        st.caption(t("The Latent space page has not been opened yet: using its starting z (seed 0)."))
        return z_from_seed(0, 1, dim)[0]
    if src == "projected":
        return projected(name, dim)
    c = st.columns([3, 2], vertical_alignment="bottom")   # room for "Random" in half of a 1024 px page
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


def frame_picture(slot, frames: dict, scores: dict | None, mode: str, i: int, scale: int):
    """Frame i of one walk into slot, its D score in the caption; returns the slot for the next frame."""
    n = len(frames[mode])
    verdict = f" · D = {scores[mode][i]:.2f}" if scores else ""
    caption = t("{mode}, frame {frame}/{frames}", mode=t(MODES[mode]), frame=i + 1, frames=n)
    return slot.image(png_bytes(upscale(frames[mode][i], scale)), caption=caption + verdict, output_format="PNG",
                      width="stretch" if presenter.presenting() else "content")


def frame_start(n: int) -> None:
    """Another walk length: start at its middle again."""
    if st.session_state.get("interp.frame_of") != n:
        st.session_state["interp.frame_of"] = n
        st.session_state["interp.frame"] = n // 2 + 1


def frame_slider(n: int) -> int:
    """The Frame slider (1 ... n); the frame's index, from 0."""
    frame_start(n)
    return st.slider(t("Frame"), 1, n, key="interp.frame",
                     help=t("Starts at the middle, where the two walks differ most.")) - 1


@st.fragment
def scrubber(frames: dict, scores: dict | None) -> None:
    """One slider over the frames; both walks' frame shown large, so they can be compared step by step."""
    i = frame_slider(len(frames["lerp"]))
    for col, mode in zip(st.columns(2), MODES):
        frame_picture(col, frames, scores, mode, i, FRAME_SCALE)
    share(frames)


@st.fragment
def presenter_scrubber(frames: dict, scores: dict | None, picture) -> None:
    """On a projector: the Frame slider beside the one large picture, which it redraws (the picture is outside)."""
    i = frame_slider(len(frames["lerp"]))
    frame_picture(picture, frames, scores, st.session_state["interp.mode"], i, PRESENT_SCALE)
    share(frames)


def _frame_released(position: dict) -> None:
    st.session_state["interp.frame"] = position["frame"]


@st.fragment
def live_scrubber(a: torch.Tensor, b: torch.Tensor, frames: dict, scores: dict | None, modes: tuple[str, ...],
                  scale: int, picture_vh: float | None = None) -> None:
    """The walks drawn in the browser from the two ends (explorer/live_generator.py): the Frame slider and Play
    move the pictures at the display's rate; a release reruns only this (the URL keeps the frame)."""
    n = len(frames["lerp"])
    frame_start(n)
    with st.container(key="interp.picture"):   # the key names it for the presenter's styles and the tests
        live_generator.walk(model.G, model.config, latent_tools.model_key(model.G), a, b, n,
                            frame=st.session_state["interp.frame"], modes=modes, on_change=_frame_released,
                            scores=None if scores is None else {m: scores[m].tolist() for m in MODES},
                            scale=scale, picture_vh=picture_vh)
    share(frames)


def from_link(dim: int) -> None:
    """A link's endpoints (a seed, or z itself), walk shown on a projector, frames and frame become the page's."""
    asked = share_link.from_link("interpolate", ("a", "b", "mode", "frames", "frame"))
    for name in ("A", "B"):
        value = asked.get(name.lower())
        if value is None:
            continue
        if value.startswith("z:"):
            z = share_link.z_value(name.lower(), value[2:], dim)
            if z is not None:
                st.session_state[f"interp.{name}.linked"] = z
                st.session_state[f"interp.{name}.src"] = "link"
        elif (seed := share_link.seed_value(name.lower(), value)) is not None:
            st.session_state[f"interp.{name}.seed"] = seed
            st.session_state[f"interp.{name}.src"] = "seed"
    if "mode" in asked and (mode := share_link.choice_value("mode", asked["mode"], MODES)) is not None:
        st.session_state["interp.mode"] = mode
    if "frames" in asked and (n := share_link.int_value("frames", asked["frames"], *FRAMES)) is not None:
        st.session_state["interp.frames"] = n
    if "frame" in asked:
        top = st.session_state.get("interp.frames", 10)
        if (i := share_link.int_value("frame", asked["frame"], 1, top)) is not None:
            st.session_state["interp.frame"], st.session_state["interp.frame_of"] = i, top


def end_param(name: str, z: torch.Tensor) -> str:
    """An endpoint as the link says it: its seed, or "z:" and z itself when no seed gave it."""
    if st.session_state[f"interp.{name}.src"] == "seed":
        return str(int(st.session_state[f"interp.{name}.seed"]))
    return "z:" + share_link.z_text(z)


def share(frames: dict) -> None:
    share_link.keep("interpolate", {**share_link.model_param(), "a": ends["A"], "b": ends["B"],
                                    "mode": st.session_state["interp.mode"], "frames": str(len(frames["lerp"])),
                                    "frame": str(st.session_state["interp.frame"])})


share_link.title(t("Interpolate"))
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
    st.stop()

dim = model.config.latent_dim
st.session_state.setdefault("interp.mode", "slerp")
from_link(dim)
with presenter.secondary(t("What this page shows")):
    st.caption(t("z is drawn from N(0, I) in {dim} dimensions, so it nearly always lies close to a sphere of radius "
                 "√{dim} ≈ {radius:.0f}. A straight line between two such points cuts inside the sphere, where G "
                 "was rarely trained; the spherical path stays on it.", dim=dim, radius=dim ** 0.5))


def walks(a: torch.Tensor, b: torch.Tensor, n: int) -> tuple[dict, dict | None]:
    """Both walks' frames (n, 28, 28) uint8 and D's scores of them (None without D)."""
    frames = {mode: decode(model.G, interpolate(a, b, n, mode), model.config.image_size) for mode in MODES}
    return frames, {mode: d_scores(model.D, f) for mode, f in frames.items()} if model.D is not None else None


def endpoints() -> tuple[torch.Tensor, torch.Tensor]:
    # Beside the projector's picture the column is narrow: one endpoint above the other.
    left, right = [st.container()] * 2 if presenter.presenting() else st.columns(2)
    with left:
        a = endpoint("A", 1, dim)
    with right:
        b = endpoint("B", 2, dim)
    ends.update(A=end_param("A", a), B=end_param("B", b))
    return a, b


def downloads(frames: dict, strips: dict) -> None:
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


ends: dict[str, str] = {}   # each endpoint as the link says it (endpoints() fills it)
st.session_state.setdefault("interp.frames", 10)
if presenter.presenting():
    # One walk at a time, large, the controls beside it; endpoints, GIFs and strips folded away.
    left, right = st.columns([3, 2], gap="medium")
    with right:
        shown_modes = {k: t(v) for k, v in MODES.items()}
        st.segmented_control(t("Walk"), list(MODES), format_func=shown_modes.__getitem__, key="interp.mode",
                             required=True)
        n = st.slider(t("Frames"), *FRAMES, key="interp.frames", persist_state="session")
        with st.expander(t("Endpoints A and B")):
            a, b = endpoints()
        frames, scores = walks(a, b, n)
        if live_generator.live(model.config):   # the picture and its Frame slider and Play, in the browser
            with left:
                live_scrubber(a, b, frames, scores, (st.session_state["interp.mode"],), PRESENT_SCALE,
                              presenter.PICTURE_VH)
        else:
            i = (st.session_state["interp.frame"] if st.session_state.get("interp.frame_of") == n else n // 2 + 1) - 1
            with left:   # drawn before the slider's fragment, which then redraws it
                picture = frame_picture(st.container(key="interp.picture"), frames, scores,
                                        st.session_state["interp.mode"], i, PRESENT_SCALE)
            presenter_scrubber(frames, scores, picture)
    strips = {mode: png_bytes(strip(f)) for mode, f in frames.items()}
    with st.expander(t("Both walks: GIFs, strips and downloads")):
        downloads(frames, strips)
        for mode in MODES:
            st.image(strips[mode], caption=t("{mode}: A → B", mode=t(MODES[mode])), output_format="PNG")
else:
    a, b = endpoints()
    n = st.slider(t("Frames"), *FRAMES, key="interp.frames", persist_state="session")
    frames, scores = walks(a, b, n)                                          # (n, 28, 28) each
    strips = {mode: png_bytes(strip(f)) for mode, f in frames.items()}   # long walks wrap onto more rows
    downloads(frames, strips)
    st.subheader(t("Frame by frame"))
    if live_generator.live(model.config):
        live_scrubber(a, b, frames, scores, tuple(MODES), FRAME_SCALE)
    else:
        scrubber(frames, scores)
    for mode in MODES:
        st.image(strips[mode], caption=t("{mode}: A → B", mode=t(MODES[mode])), output_format="PNG")
