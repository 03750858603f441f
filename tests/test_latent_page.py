"""The Latent space page (directions, steering, the map, the raw sliders) and the Project an image page, in-process
with AppTest, for the shipped book model and for a freshly trained small run; then both in a real browser.

    .venv/bin/pytest tests/test_latent_page.py -m "not browser"   # AppTest, a few minutes
    .venv/bin/pytest tests/test_latent_page.py -m browser         # headless Chromium at 1024 x 768

"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import helpers
from explorer import run_manager
from gan_core import (DEFAULT_CLASSIFIER_PATH, GANConfig, Trainer, decode, load_checkpoint, load_classifier,
                      load_fashion_mnist, save_checkpoint, sefa_directions, z_from_seed)
from gan_core.verdicts import predict_classes
from helpers import ROOT, array, chromium, image_captions, image_urls, open_app, streamlit_server, texts, wait_idle

BOOK = ROOT / "checkpoints" / "book.pt"
LATENT, PROJECT, INTERPOLATE = "views/latent.py", "views/project.py", "views/interpolate.py"


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory, small_data_dir) -> Path:
    """A folder holding fresh.pt: the book's GAN after 20 epochs on 3,000 real images, 600 steps, as many as the
    book's first epoch (about 5 s): grey garment-shaped blobs that differ with z, far from any class yet."""
    x, _ = load_fashion_mnist(train=True, data_dir=small_data_dir)
    trainer = Trainer(GANConfig(epochs=20, seed=1), x, "cpu")
    for _ in trainer.run():
        pass
    folder = tmp_path_factory.mktemp("fresh")
    save_checkpoint(folder / "fresh.pt", trainer.state_dict())
    return folder


def _clean(tmp_path, monkeypatch, small_data_dir, checkpoints: Path | None):
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    if checkpoints is None:
        monkeypatch.delenv("GAN_EXPLORER_CHECKPOINTS", raising=False)   # the shipped book model
    else:
        monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(checkpoints))
    st.cache_resource.clear()
    st.cache_data.clear()
    threads = torch.get_num_threads()
    yield
    run_manager.shutdown_all()
    st.cache_resource.clear()
    st.cache_data.clear()
    torch.set_num_threads(threads)   # app.py sets 1 for its process, which here is pytest's


@pytest.fixture
def book(tmp_path, monkeypatch, small_data_dir):
    """The shipped checkpoints (book.pt is the default model), a 3,000-image data set, nothing cached."""
    yield from _clean(tmp_path, monkeypatch, small_data_dir, None)


@pytest.fixture
def fresh(tmp_path, monkeypatch, small_data_dir, fresh_run):
    """Only the freshly trained run to explore."""
    yield from _clean(tmp_path, monkeypatch, small_data_dir, fresh_run)


def opened(page: str = LATENT, **state) -> AppTest:
    """The app opened at `page`, as its URL would open it ("/" is the lesson's)."""
    return helpers.app(page, timeout=180, **state)


def picture(at: AppTest) -> str:
    """The Latent page's picture (the first image on it; the strips follow)."""
    return image_urls(at)[0]


def z_on_page(at: AppTest) -> torch.Tensor:
    return torch.tensor(at.session_state["latent.z"])


def model_of(at: AppTest):
    """The generator the page shows, loaded as the page loads it."""
    from explorer import model_picker
    path = Path(at.selectbox(key="model.source").value.removeprefix("checkpoint:"))
    folder = Path(os.environ.get("GAN_EXPLORER_CHECKPOINTS", ROOT / "checkpoints"))
    return model_picker.Model.from_checkpoint(load_checkpoint(folder / path.name))


def click_map(at: AppTest, cell: int) -> None:
    """What the browser sends for a click on a map cell: the Plotly chart's selection (AppTest cannot click a chart)."""
    chart = at.get("plotly_chart")[0]
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = chart.proto.id
    w.string_value = json.dumps({"selection": {"points": [{"point_index": cell, "curve_number": 1}],
                                               "point_indices": [cell], "box": [], "lasso": []}})
    at._run(states)
    assert not at.exception, at.exception


def open_expander(at: AppTest, key: str, open_: bool = True) -> None:
    at.session_state[key] = open_   # what a click on the expander's header sends
    at.run()
    assert not at.exception, at.exception


# ---- directions -------------------------------------------------------------------------------

def test_direction_sliders_move_the_picture_and_say_what_moves(book):
    at = opened()
    G = model_of(at).G
    dirs = sefa_directions(G, 8)
    sliders = [s for s in at.slider if str(s.key).startswith("latent.a")]
    assert [s.key for s in sliders] == [f"latent.a{i}" for i in range(8)]
    assert all((s.min, s.max, s.value) == (-3.0, 3.0, 0.0) for s in sliders)
    # Labelled by the classifier, from its measured figures (gan_core/directions.py): the first turns dresses
    # into sneakers, the second bags into trousers.
    assert sliders[0].label == "1 · Dress → Sneaker" and sliders[1].label == "2 · Bag → Trouser"
    assert all(re.fullmatch(r"\d · .+ → .+", s.label) for s in sliders)
    assert "Dress to Sneaker" in sliders[0].help
    # First visit: seed 0's z; the picture, then one strip per direction.
    base = z_from_seed(0, 1, 64)[0]
    assert torch.allclose(z_on_page(at), base, atol=1e-6)
    assert len(image_urls(at)) == 1 + 8
    assert image_captions(at)[0].startswith("D's verdict: ")
    before, strips = picture(at), image_urls(at)[1:]

    at.slider(key="latent.a0").set_value(2.0).run()
    assert picture(at) != before, "moving a direction slider did not change the picture"
    assert torch.allclose(z_on_page(at), base + 2.0 * dirs.vectors[0], atol=1e-5)   # z = z0 + a n, a in SDs
    assert image_urls(at)[1:] == strips, "the strips show the base: a slider move leaves them"
    at.slider(key="latent.a3").set_value(-1.5).run()
    assert torch.allclose(z_on_page(at), base + 2.0 * dirs.vectors[0] - 1.5 * dirs.vectors[3], atol=1e-5)

    next(b for b in at.button if b.label == "All to 0").click().run()
    assert picture(at) == before and all(s.value == 0 for s in at.slider)
    # Start here: the moved picture becomes the base, the sliders 0, the strips drawn from it.
    at.slider(key="latent.a1").set_value(3.0).run()
    moved = picture(at)
    next(b for b in at.button if b.label == "Start here").click().run()
    assert picture(at) == moved and at.slider(key="latent.a1").value == 0
    assert image_urls(at)[1:] != strips

    at.number_input(key="latent.seed").set_value(7).run()
    assert torch.allclose(z_on_page(at), z_from_seed(7, 1, 64)[0], atol=1e-6)


def test_the_raw_sliders_wait_behind_an_expander_and_show_the_same_z(book):
    at = opened()
    assert not [s for s in at.slider if str(s.key).startswith("latent.z")], "raw sliders drawn while closed"
    assert any(e.label == "All 64 numbers of z" for e in at.expander)
    at.slider(key="latent.a0").set_value(1.0).run()
    open_expander(at, "latent.raw")
    raw = [at.slider(key=f"latent.z{i}") for i in range(64)]
    assert np.allclose([s.value for s in raw], z_on_page(at).clamp(-3, 3).numpy(), atol=0.006)

    # A raw move sets that number of z, and leaves the direction sliders where they are.
    at.slider(key="latent.z5").set_value(2.5).run()
    assert at.session_state["latent.z"][5] == pytest.approx(2.5) and at.slider(key="latent.a0").value == 1.0
    # A direction move while they are open reruns the page, so they follow.
    at.slider(key="latent.a0").set_value(-1.0).run()
    assert np.allclose([at.slider(key=f"latent.z{i}").value for i in range(64)],
                       z_on_page(at).clamp(-3, 3).numpy(), atol=0.006)


# ---- steering ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [1, pytest.param(9, marks=pytest.mark.slow)])   # Trouser and Ankle boot: the
# hardest classes for naive steering (the quick loop steers to one)
def test_steering_ends_on_a_z_the_classifier_puts_in_the_class(book, target):
    at = opened()
    clf = load_classifier(DEFAULT_CLASSIFIER_PATH).build()
    G = model_of(at).G
    start = z_on_page(at)
    at.selectbox(key="latent.target").set_value(target).run()
    next(b for b in at.button if b.key == "latent.steer_button").click().run()
    done = at.session_state["latent.steered"]
    assert done["reached"] and done["end"] >= 0.5
    end = z_on_page(at)
    assert not torch.allclose(end, start)
    assert int(predict_classes(clf, decode(G, end[None]))[0]) == target
    assert all(s.value == 0 for s in at.slider), "the walk's end is the new base"
    assert "Reached " in texts(at, "caption")


# ---- the map ----------------------------------------------------------------------------------

def test_a_click_on_the_map_makes_that_cell_the_z(book):
    at = opened()
    assert not at.get("plotly_chart"), "the map is drawn only while its expander is open"
    open_expander(at, "latent.map_open")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    cells = next(t for t in spec["data"] if t.get("meta") == "cells")
    assert len(array(cells["x"])) == len(array(cells["y"])) == 81   # one clickable point a cell
    plane = at.session_state["latent.map.cells"]
    assert plane.shape == (81, 64)
    # The corners are seeds 1, 2 and 3 by default: A top left, B top right, C bottom left.
    assert torch.allclose(plane[0], z_from_seed(1, 1, 64)[0], atol=1e-5)
    assert torch.allclose(plane[8], z_from_seed(2, 1, 64)[0], atol=1e-5)
    assert torch.allclose(plane[72], z_from_seed(3, 1, 64)[0], atol=1e-5)
    before = picture(at)
    at.slider(key="latent.a2").set_value(1.0).run()
    click_map(at, 40)
    assert torch.allclose(z_on_page(at), plane[40]) and picture(at) != before
    assert at.slider(key="latent.a2").value == 0
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["layout"]["shapes"]) == 1, "the picked cell is outlined"
    # A corner from the picture on show: the map then passes through it.
    at.selectbox(key="latent.map.A.src").set_value("now").run()
    assert torch.allclose(at.session_state["latent.map.cells"][0], plane[40], atol=1e-5)


# ---- projection -------------------------------------------------------------------------------

def test_projection_of_test_images_beats_random_then_interpolates_between_them(book):
    at = opened(PROJECT)
    assert at.title[0].value == "Project an image"
    captions = image_captions(at)
    assert len(captions) == 4 and captions[0].startswith("The target")
    ours, rnd = (float(re.search(r"error (\d\.\d+)", c)[1]) for c in captions[1:3])
    assert ours < rnd, captions
    assert "closer than the best of 10,000 random z" in texts(at, "success")
    assert "Nearest training image" in captions[3]

    first = captions[0]
    next(b for b in at.button if b.key == "project.keep").click().run()
    at.selectbox(key="project.class").set_value(1).run()    # a pair of trousers
    assert image_captions(at)[0] != first
    next(b for b in at.button if b.key == "project.keep").click().run()
    kept = at.session_state["project.kept"]
    assert [k["name"] for k in kept] == [image_captions(at)[0].replace("\\", "").removeprefix("The target: "),
                                         first.replace("\\", "").removeprefix("The target: ")]
    next(b for b in at.button if b.key == "project.interpolate").click().run()
    assert not at.exception and at.title[0].value == "Interpolate"
    at.switch_page(INTERPOLATE)   # AppTest's later runs go back to the page it last switched to itself
    assert at.radio(key="interp.A.src").value == "projected" and at.radio(key="interp.B.src").value == "projected"
    assert [at.selectbox(key=f"interp.{end}.projected").value for end in "AB"] == [kept[1]["picture"],
                                                                                 kept[0]["picture"]]
    assert texts(at, "caption").count("The z whose picture comes closest to it") == 2

    def frame(n: int) -> set[str]:   # both walks' picture at frame n
        at.slider(key="interp.frame").set_value(n).run()
        return {i.url for el in at.get("image") for i in el.proto.imgs if f"frame {n}/" in i.caption}
    assert len(frame(1)) == 1 and len(frame(10)) == 1 and frame(1) != frame(10)


def test_open_on_the_latent_page_shows_the_projection(book):
    at = opened(PROJECT)
    next(b for b in at.button if b.key == "project.open").click().run()
    assert not at.exception and at.title[0].value == "Latent space"
    at.switch_page(LATENT)
    kept = at.session_state["project.kept"][0]
    assert torch.allclose(z_on_page(at), torch.tensor(kept["z"]))
    # ... and a kept projection can be a corner of the map.
    open_expander(at, "latent.map_open")
    at.selectbox(key="latent.map.B.src").set_value(f"projected:{kept['picture']}").run()
    assert torch.allclose(at.session_state["latent.map.cells"][8], torch.tensor(kept["z"]), atol=1e-5)


def png(image: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def test_an_uploaded_picture_is_projected_and_a_bad_one_refused_in_one_line(book):
    at = opened(PROJECT)
    at.segmented_control(key="project.src").set_value("upload").run()
    assert not at.get("image") and "plain background" in texts(at, "caption")
    # A dark garment on a white background, as a product photo is: made light on black, 28 x 28.
    photo = np.full((300, 200), 255, np.uint8)
    photo[40:260, 50:150] = 40
    at.file_uploader(key="project.file").set_value(("shirt.png", png(photo, "RGB"), "image/png")).run()
    assert not at.exception, at.exception
    captions = image_captions(at)
    assert len(captions) == 4 and "shirt" in captions[0]
    at.file_uploader(key="project.file").set_value(("notes.png", b"not a picture", "image/png")).run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "notes" in errors[0] and "\n" not in errors[0]


def test_drawing_needs_a_drawing(book):
    """AppTest cannot draw on the canvas (the browser test does): an empty canvas asks for nothing yet."""
    at = opened(PROJECT)
    at.segmented_control(key="project.src").set_value("draw").run()
    assert not at.exception, at.exception
    assert not at.get("image") and "Draw one garment" in texts(at, "caption")


def test_without_the_data_set_uploads_still_project(book, tmp_path, monkeypatch, no_data_set):
    at = opened(PROJECT)
    assert "need Fashion-MNIST" in texts(at, "warning") and not at.get("image")
    at.segmented_control(key="project.src").set_value("upload").run()
    photo = np.zeros((64, 64), np.uint8)
    photo[8:56, 20:44] = 200
    at.file_uploader(key="project.file").set_value(("bag.png", png(photo), "image/png")).run()
    assert not at.exception, at.exception
    assert len(image_captions(at)) == 3, "no nearest training image without the data set"
    assert "needs Fashion-MNIST" in texts(at, "caption")


# ---- a freshly trained run --------------------------------------------------------------------

@pytest.mark.slow
def test_every_tool_works_for_a_freshly_trained_run(fresh):
    at = opened()
    assert at.selectbox(key="model.source").value == "checkpoint:fresh.pt"
    labels = [s.label for s in at.slider]
    assert len(labels) == 8 and all(re.fullmatch(r"\d · .+ → .+", lb) for lb in labels), labels
    before = picture(at)
    at.slider(key="latent.a0").set_value(3.0).run()
    assert picture(at) != before
    # Steering: whatever it reaches, the walk ends on the page and says how it went.
    start = z_on_page(at)
    next(b for b in at.button if b.key == "latent.steer_button").click().run()
    assert not torch.allclose(z_on_page(at), start) or at.session_state["latent.steered"]["steps"] == 0
    assert re.search("Reached|not reached|Already there", texts(at, "caption"))
    open_expander(at, "latent.map_open")
    plane = at.session_state["latent.map.cells"]
    click_map(at, 80)
    assert torch.allclose(z_on_page(at), plane[80])

    at.switch_page(PROJECT).run()
    assert not at.exception, at.exception
    ours, rnd = (float(re.search(r"error (\d\.\d+)", c)[1]) for c in image_captions(at)[1:3])
    assert ours < rnd


def test_a_generator_without_the_classifiers_picture_size_still_gets_directions(book, tmp_path, monkeypatch):
    """A generator of 16 x 16 pictures: directions and strips, no labels or steering (the classifier reads 28 px)."""
    from gan_core import build_generator
    folder = tmp_path / "small"
    folder.mkdir()
    torch.save(build_generator(GANConfig(image_size=16)).state_dict(), folder / "g16.pt")
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(folder))
    at = opened()
    if at.selectbox(key="model.source").value != "checkpoint:g16.pt":
        pytest.skip("a book-style state_dict of another picture size is not recognised as a generator")
    assert [s.label for s in at.slider] == [f"Direction {i}" for i in range(1, 9)]
    assert "16 px" in texts(at, "caption")


# ---- Korean -----------------------------------------------------------------------------------

@pytest.mark.parametrize("page", [LATENT, PROJECT])
def test_the_new_pages_in_korean_show_no_english(book, page):
    from test_i18n import english_left, file_names, korean, shown_text
    at = korean(page)
    assert not at.exception, at.exception
    if page == LATENT:   # the expanders' contents too
        open_expander(at, "latent.raw")
        open_expander(at, "latent.map_open")
        next(b for b in at.button if b.key == "latent.steer_button").click().run()
    shown = shown_text(at)
    assert any(re.search("[가-힣]", s) for s in shown)
    left = {s: words for s in shown if (words := english_left(s, file_names()))}
    assert not left, "English on a Korean page:\n" + "\n".join(f"  {w}: {s[:160]!r}" for s, w in left.items())


# ---- a real browser ---------------------------------------------------------------------------

IMAGE = "[data-testid=stMain] [data-testid=stImage] img"
DIRECTION_THUMBS = "[data-testid=stMain] [class*=st-key-latent-a] input[type=range]"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data_dir):
    """The app with the shipped models, on a free port."""
    tmp = tmp_path_factory.mktemp("latent-browser")
    env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_DATA": str(small_data_dir)}
    env.pop("GAN_EXPLORER_CHECKPOINTS", None)
    saved = os.environ.pop("GAN_EXPLORER_CHECKPOINTS", None)
    try:
        with streamlit_server(env, tmp / "server.log") as url:
            yield url, tmp
    finally:
        if saved is not None:
            os.environ["GAN_EXPLORER_CHECKPOINTS"] = saved


def clipped_buttons(page) -> list[str]:
    """Buttons whose label is cut short (an ellipsis instead of the words)."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-testid=stMain] button')]
        .filter(b => b.offsetParent && [...b.querySelectorAll('p')].some(p => p.scrollWidth > p.clientWidth + 1))
        .map(b => b.innerText)""")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_latent_page_at_1024_by_768(server, lang):
    url, tmp = server
    with chromium(1024, 768) as page:
        open_app(page, f"{url}/latent?lang={lang}")
        page.wait_for_selector(IMAGE, timeout=WAIT_MS)
        # The labels arrive once the classifier has named the directions (a rerun).
        page.wait_for_function("sel => document.querySelectorAll(sel).length == 8", arg=DIRECTION_THUMBS,
                               timeout=WAIT_MS)
        wait_idle(page)
        page.screenshot(path=str(tmp / f"latent-{lang}.png"))
        box = page.locator(IMAGE).first.bounding_box()
        assert box["width"] >= 250 and box["y"] + box["height"] <= 768, f"the picture is small or below the fold: {box}"
        assert not clipped_buttons(page), clipped_buttons(page)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"

        thumb = page.locator(DIRECTION_THUMBS).first
        before_src, before_value = page.locator(IMAGE).first.get_attribute("src"), thumb.get_attribute("aria-valuetext")
        thumb.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[IMAGE, before_src],
                               timeout=WAIT_MS)
        assert float(thumb.get_attribute("aria-valuetext")) == pytest.approx(float(before_value) + 0.1)
        # Dragging the thumb to the far right: +3 standard deviations.
        track = page.locator("[data-testid=stMain] [class*=st-key-latent-a1] [data-testid=stSlider]").first
        tb = track.bounding_box()
        src = page.locator(IMAGE).first.get_attribute("src")
        page.mouse.move(tb["x"] + tb["width"] / 2, tb["y"] + tb["height"] - 12)
        page.mouse.down()
        page.mouse.move(tb["x"] + tb["width"] + 40, tb["y"] + tb["height"] - 12, steps=8)
        page.mouse.up()
        page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[IMAGE, src],
                               timeout=WAIT_MS)
        assert float(page.locator(DIRECTION_THUMBS).nth(1).get_attribute("aria-valuetext")) == pytest.approx(3.0)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_click_on_the_map_in_the_browser(server):
    url, tmp = server
    with chromium(1024, 768) as page:
        open_app(page, f"{url}/latent")
        page.wait_for_selector(IMAGE, timeout=WAIT_MS)
        page.get_by_text("Map: a plane through three z").click()
        plot = page.locator("[data-testid=stMain] .js-plotly-plot").first
        plot.wait_for(timeout=WAIT_MS)
        wait_idle(page)
        plot.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp / "latent-map.png"))
        src = page.locator(IMAGE).first.get_attribute("src")
        box = plot.bounding_box()
        pitch = box["width"] / 9
        page.mouse.click(box["x"] + 4.5 * pitch, box["y"] + 2.5 * pitch)   # row 2, column 4
        page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[IMAGE, src],
                               timeout=WAIT_MS)
        wait_idle(page)
        # The chosen cell is outlined in the figure Plotly drew.
        shapes = page.evaluate("() => document.querySelector('[data-testid=stMain] .js-plotly-plot').layout.shapes")
        assert len(shapes) == 1


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_drawing_is_projected(server):
    if importlib.util.find_spec("streamlit_drawable_canvas") is None:   # importing it needs a running app
        pytest.skip("streamlit-drawable-canvas is not installed (requirements.txt)")
    url, tmp = server
    with chromium(1024, 768) as page:
        open_app(page, f"{url}/project")
        page.get_by_text("Draw one").click()
        canvas = page.locator("[data-testid=stMain] canvas").last
        canvas.wait_for(timeout=WAIT_MS)
        wait_idle(page)
        box = canvas.bounding_box()
        # A pair of trousers: a waistband and two legs.
        for x0, y0, x1, y1 in ((90, 40, 170, 40), (95, 40, 85, 220), (165, 40, 175, 220)):
            page.mouse.move(box["x"] + x0, box["y"] + y0)
            page.mouse.down()
            page.mouse.move(box["x"] + x1, box["y"] + y1, steps=10)
            page.mouse.up()
            time.sleep(0.3)
        page.get_by_text("random z: error").first.wait_for(timeout=WAIT_MS)
        wait_idle(page)
        page.screenshot(path=str(tmp / "project-drawing.png"))
        captions = page.locator("[data-testid=stMain] [data-testid=stImageCaption]").all_inner_texts()
        assert captions[0].startswith("The target: drawing")
        ours, rnd = (float(re.search(r"error (\d\.\d+)", c)[1]) for c in captions[1:3])
        assert ours < rnd
