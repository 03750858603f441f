"""Project an image page (GAN inversion): the z whose picture G(z) comes closest to a target picture.

The target is a real test image chosen by class, an uploaded PNG or JPEG, or a drawing; any
of them is first made to look like Fashion-MNIST (gan_core.prepare_image: grey, light on
black, cropped and scaled to fill 28 x 28). gan_core.project_image then runs Adam on 16
restarts of z; beside its result the page shows the best of 10,000 random z, the baseline
it must beat, and the nearest real training image. A projection can be kept: it then
serves as a corner of the Latent page's map and as an end of the Interpolate page's walks,
and "Open on the Latent page" makes it the picture there.

Drawing uses streamlit-drawable-canvas (0.13, a Streamlit component; tested in Chromium with
Streamlit 1.67). Without it the page offers the other two targets and says how to get it.
"""
from __future__ import annotations

import random

import numpy as np
import streamlit as st

from gan_core import load_image, png_bytes, prepare_image, upscale
from explorer import evaluations, latent_tools, model_picker, resources
from explorer.i18n import N_, t
from explorer.plain import plain

try:
    from streamlit_drawable_canvas import st_canvas
except ImportError:   # an install from an older requirements.txt: drawing is the one thing missing
    st_canvas = None

SOURCES = {"test": N_("A real test image"), "upload": N_("Upload a picture"), "draw": N_("Draw one")}
RESULT_SCALE = 5    # the four pictures compared, two by two: 140 px each
CANVAS = 256        # the drawing square, px (fits the narrow column of a 1024 px window)
PEN = 20            # the drawing pen's width, px: about 2 of the 28 pixels


def _another_test_image() -> None:
    st.session_state["project.index"] = random.randrange(1, 1001)


def test_target(data) -> tuple[np.ndarray, str] | None:
    """A real test image, by class and number."""
    names = {c: latent_tools.class_name(c) for c in range(len(latent_tools.CLASS_NAMES))}
    st.session_state.setdefault("project.index", 1)
    cls = st.selectbox(t("Class"), list(names), format_func=names.__getitem__, key="project.class")
    c = st.columns([3, 2], vertical_alignment="bottom")
    count = latent_tools.class_count(data, cls)
    k = c[0].number_input(t("Which one (of {n:,})", n=count), 1, count, key="project.index")
    c[1].button(t("Another"), icon=":material/casino:", on_click=_another_test_image, width="stretch")
    image, index = latent_tools.test_image(data, cls, int(k) - 1)
    return image, t("test image {index:,} ({cls})", index=index, cls=names[cls])


def upload_target() -> tuple[np.ndarray, str] | None:
    """An uploaded picture, made to look like Fashion-MNIST."""
    f = st.file_uploader(t("A PNG or JPEG of one garment"), type=["png", "jpg", "jpeg"], key="project.file")
    if f is None:
        st.caption(t("A product photo on a plain background works best: it is turned grey, light on black, "
                     "cropped and scaled to 28 x 28 as the data set is."))
        return None
    try:
        image = prepare_image(load_image(f.getvalue()))
    except ValueError as e:
        # Translators: {what} is a file name or a model picker entry, {reason} the library's English message.
        st.error(t("{what}: {reason}", what=plain(f.name, 60), reason=plain(str(e).removeprefix("upload: "), 200)))
        return None
    return image, t("upload: {name}", name=f.name[:60])


def drawn_target() -> tuple[np.ndarray, str] | None:
    """A drawing on a black square, made to look like Fashion-MNIST."""
    if st_canvas is None:
        st.info(t("Drawing needs the `streamlit-drawable-canvas` package: `pip install -r requirements.txt`, then "
                  "restart the app."), icon=":material/draw:")
        return None
    st.space("medium")   # the canvas's toolbar floats above the square
    drawn = st_canvas(stroke_width=PEN, stroke_color="#ffffff", background_color="#000000", width=CANVAS,
                      height=CANVAS, drawing_mode="freedraw", return_image_data=True, key="project.canvas")
    st.caption(t("Draw one garment in white; the toolbar above the square undoes or clears."))
    data = drawn.image_bytes
    if not data:
        return None
    try:
        image = prepare_image(load_image(data))
    except ValueError:   # nothing drawn yet
        return None
    return image, t("drawing")


def show_results(model, key: str, target: np.ndarray, name: str, where) -> None:
    """The target, G's picture for the z found, the best random z's, the nearest training image; then what to do."""
    size = model.config.image_size
    with where, st.spinner(t("Looking for the z that draws it…")):
        resources.manager().note_interaction()
        found = latent_tools.project(model.G, key, target)
        near = latent_tools.nearest_real(target)
    pictures = [(target, t("The target: {name}", name=plain(name, 80))),
                (found.image, t("G(z) for the z found: error {mse:.3f}", mse=found.mse)),
                (found.random_image, t("Best of {n:,} random z: error {mse:.3f}", n=latent_tools.RANDOM_TRIES,
                                       mse=found.random_mse))]
    if near is not None:
        pictures.append((near[0], t("Nearest training image: error {mse:.3f}", mse=near[2])))
    cells = [c for _ in range(2) for c in where.columns(2)]   # two by two: fits beside the drawing square
    for col, (image, caption) in zip(cells, pictures):
        col.image(png_bytes(upscale(image.reshape(size, size), RESULT_SCALE)), caption=caption, output_format="PNG",
                  width="stretch")
    ratio = found.random_mse / max(found.mse, 1e-9)
    if found.mse < found.random_mse:
        st.success(t("The z found draws it {ratio:.1f}x closer than the best of {n:,} random z (error: mean squared "
                     "pixel difference, pixels from −1 to 1).", ratio=ratio, n=latent_tools.RANDOM_TRIES),
                   icon=":material/check_circle:")
    else:
        st.warning(t("The best of {n:,} random z came closer this time (error: mean squared pixel difference, "
                     "pixels from −1 to 1).", n=latent_tools.RANDOM_TRIES))
    if near is None:
        st.caption(t("The nearest training image needs Fashion-MNIST, which was not found (see the Quality page)."))
    # One row that wraps, each button as wide as its words: three equal columns cut them short at 1024 px.
    c = [st.container(horizontal=True, wrap=True)] * 3
    if c[0].button(t("Keep"), icon=":material/bookmark_add:", width="content", key="project.keep",
                   help=t("Keep this projection for the Latent page's map and the Interpolate page.")):
        latent_tools.keep(found, name, key)
    if c[1].button(t("Open on the Latent page"), icon=":material/tune:", width="content", key="project.open"):
        latent_tools.keep(found, name, key)
        latent_tools.set_latent_base(found.z)
        st.switch_page("views/latent.py")
    kept = latent_tools.kept(key)
    if c[2].button(t("Interpolate the last two"), icon=":material/linear_scale:", width="content",
                   key="project.interpolate", disabled=len(kept) < 2,
                   help=t("Walk between the two projections kept last, on the Interpolate page.")):
        for end, p in zip(("A", "B"), (kept[1], kept[0])):
            st.session_state[f"interp.{end}.src"] = "projected"
            st.session_state[f"interp.{end}.projected"] = p["picture"]
        st.switch_page("views/interpolate.py")
    if kept:
        st.caption(t("Kept: {names}", names=plain(" · ".join(p["name"] for p in kept), 300)))


st.title(t("Project an image"))
model = model_picker.pick_model()
if model is None:
    model_picker.no_model_prompt()
    st.stop()

st.caption(t("Which z makes G draw a given picture? Starting from the best of 1,024 random z, 16 searches at once "
             "follow the gradient of the pixel error for 200 steps (GAN inversion). A real picture G cannot draw "
             "exactly shows what G has learnt to draw."))
shown = {k: t(v) for k, v in SOURCES.items()}   # translated here: format_func may be called outside this run
src = st.segmented_control(t("Target"), list(SOURCES), format_func=shown.__getitem__, key="project.src",
                           default="test", required=True)
left, right = st.columns(2)
with left:
    if src == "test":
        data = evaluations.real_data()
        if isinstance(data, str):
            st.warning(t("The real test images need Fashion-MNIST, which was not found; uploading or drawing "
                         "still works. The Quality page says how to get it."), icon=":material/dataset:")
            chosen = None
        else:
            chosen = test_target(data)
    elif src == "upload":
        chosen = upload_target()
    else:
        chosen = drawn_target()
if chosen is not None and chosen[0].shape != (model.config.image_size,) * 2:
    right.warning(t("This generator draws {size} x {size} pictures; targets are 28 x 28.",
                    size=model.config.image_size))
    chosen = None
if chosen is None:
    st.stop()
target, name = chosen
show_results(model, latent_tools.model_key(model.G), target, name, right)
