"""The live generator (explorer/live_generator.py and .js): G run in the browser.

In-process (AppTest, tests/live_page.py): registration, the weights sent once per model, what the page
reports coming back to Python (and forged reports refused), the server path for an architecture the page
cannot run. In headless Chromium (slow): the page's G equals gan_core's decode within one grey level for
100 seeded z, its lerp and slerp equal gan_core's, one drag shows many pictures before anything reaches
Python, and the server path draws where the page cannot.

    .venv/bin/pytest tests/test_live_generator.py -m "not slow"
    .venv/bin/pytest tests/test_live_generator.py -m slow
"""
from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect
import streamlit as st
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from explorer import live_generator as live
from gan_core import GANConfig, decode, interpolate, lerp, load_checkpoint, slerp, z_from_seed
from gan_core.latent_map import plane_z
import helpers
from helpers import ROOT, chromium, open_app, streamlit_server, wait_idle, wait_until

PAGE = ROOT / "tests" / "live_page.py"
BOOK = ROOT / "checkpoints" / "book.pt"


@pytest.fixture(autouse=True)
def live_on(monkeypatch):
    """The suite runs with GAN_EXPLORER_LIVE=0 (conftest.py): here G runs in the browser."""
    monkeypatch.setenv("GAN_EXPLORER_LIVE", "1")


@pytest.fixture(scope="module")
def book():
    ck = load_checkpoint(str(BOOK))
    return ck.build_generator("cpu"), ck.config


# ---- the Python side, without Streamlit ------------------------------------------------------

def test_supports_the_mlp_and_not_another_architecture(book):
    _, config = book
    assert live.supports(GANConfig())
    assert live.supports(config)

    @dataclasses.dataclass(frozen=True)
    class Conv:
        arch: str = "dcgan"
    assert not live.supports(Conv())


def test_a_generator_too_big_to_send_is_drawn_on_the_server(book):
    G, config = book
    assert live.weight_count(config) == sum(p.numel() for p in G.parameters()) == 283_920
    wide = GANConfig(hidden_dim=2048)
    assert live.weight_count(wide) > live.MAX_WEIGHTS and not live.supports(wide)
    assert "too many to send" in live.server_note(wide)


def test_a_server_started_with_live_0_draws_every_picture_on_the_server_without_a_word(monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_LIVE", "0")
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert not at.get("bidi_component") and len(at.get("slider")) == 8
    assert not at.get("caption")   # the server's choice: nothing to explain to the reader
    assert live.server_note(GANConfig()) is None


def test_weights_travel_as_float32_in_state_dict_order(book):
    G, _ = book
    flat = np.frombuffer(base64.b64decode(live._weights_b64(G, "book")), dtype="<f4")
    sd = G.state_dict()
    expected = np.concatenate([sd[k].numpy().ravel() for k in live.G_KEYS])
    assert flat.shape == (283_920,)
    assert np.array_equal(flat, expected)


# ---- in-process: registration, weights once, values back ------------------------------------

def _component(at):
    found = at.get("bidi_component")
    assert len(found) == 1, [e.type for e in at.get("bidi_component")]
    return found[0].proto


def _report(at, state: dict) -> None:
    """What the browser does on release: the component's state, sent with the other widgets' for the next run."""
    proto = _component(at)
    states = at._tree.get_widget_states()
    w = WidgetStates().widgets.add()
    w.id = proto.id
    w.json_value = json.dumps(state)
    states.widgets.append(w)
    at._run(states)
    assert not at.exception, at.exception


def _text(at) -> str:
    return " ".join(e.value for e in at.get("markdown"))


@pytest.fixture
def page():
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_component_is_registered_and_sent_the_weights_once(page):
    proto = _component(page)
    assert proto.component_name == "gan_explorer.live_generator"
    assert "export default function" in proto.js_content and "image-rendering: pixelated" in proto.css_content
    first = json.loads(proto.json)
    assert first["mode"] == "latent" and first["shape"] == [64, 256, 784]
    assert len(first["weights"]) == 1_514_240          # 283,920 float32 in base64
    assert len(first["directions"]) == 8 and len(first["position"]["base"]) == 64
    page.run()
    again = json.loads(_component(page).json)
    assert again["weights"] is None and again["model"] == first["model"]
    assert len(_component(page).json) < 20_000


def test_a_release_reaches_python_and_a_forged_one_does_not(page):
    base = [0.5] * 64
    amounts = [1.5, 0, 0, 0, 0, 0, 0, -2.0]
    _report(page, {"position": {"base": base, "amounts": amounts, "z": [0.0] * 64}})
    assert "releases: 1" in _text(page)
    shown = json.loads(page.get("code")[0].value)
    assert shown == {"base": base, "amounts": amounts}
    sent = json.loads(_component(page).json)["position"]
    assert sent == {"base": base, "amounts": amounts}   # the page is told the position it reported
    d_before = re.search(r"D: ([0-9.]+)", _text(page)).group(1)
    for forged in ({"base": [0.5] * 63, "amounts": amounts},                 # wrong length
                   {"base": [float("nan")] + [0.5] * 63, "amounts": amounts},  # NaN does survive JSON as a token
                   {"base": base, "amounts": ["1"] * 8},                     # strings
                   {"base": [1e9] * 64, "amounts": amounts},                 # far outside any z
                   "not a position"):
        _report(page, {"position": forged})
        assert "releases: 1" in _text(page), forged
    assert re.search(r"D: ([0-9.]+)", _text(page)).group(1) == d_before


@pytest.mark.parametrize("mode, good, bad", [
    ("walk", {"frame": 10}, [{"frame": 11}, {"frame": 0}, {"frame": 2.5}, {"frame": True}, {}]),
    ("plane", {"cell": 80}, [{"cell": 81}, {"cell": -1}, {"cell": "3"}, None]),
])
def test_the_walk_and_the_map_report_back_and_are_checked(mode, good, bad):
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.query_params["mode"] = mode
    at.run()
    assert not at.exception, at.exception
    assert json.loads(_component(at).json)["mode"] == mode
    for forged in bad:
        _report(at, {"position": forged})
        assert "releases: 0" in _text(at), forged
    _report(at, {"position": good})
    assert "releases: 1" in _text(at)
    name, value = next(iter(good.items()))
    assert f"{name}: {value}" in _text(at)


def test_a_page_that_lost_the_weights_gets_them_again(page):
    page.run()
    assert json.loads(_component(page).json)["weights"] is None
    key = json.loads(_component(page).json)["model"]
    proto = _component(page)
    states = page._tree.get_widget_states()
    w = states.widgets.add()
    w.id = f"$$STREAMLIT_INTERNAL_KEY_{proto.id}__events"
    w.json_trigger_value = json.dumps([{"event": "need_weights", "value": key}])
    page._run(states)
    assert not page.exception, page.exception
    assert len(json.loads(_component(page).json)["weights"]) == 1_514_240


def test_a_page_without_a_canvas_is_drawn_on_the_server(page):
    _report(page, {"canvas": False})
    page.run()
    assert not page.get("bidi_component")
    assert len(page.get("slider")) == 8 and page.get("image")
    assert "drawn on the server" in " ".join(e.value for e in page.get("caption"))


def test_an_architecture_the_page_cannot_run_is_drawn_on_the_server():
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=90)
    at.query_params["mode"] = "server"
    at.run()
    assert not at.exception, at.exception
    assert not at.get("bidi_component")                      # no weights leave the server for it
    assert len(at.get("slider")) == 8 and at.get("image")
    assert "(dcgan) is drawn on the server" in " ".join(e.value for e in at.get("caption"))
    at.slider[0].set_value(2.0).run()
    assert "server picture" in [i.caption for e in at.get("image") for i in e.proto.imgs]


# ---- in Chromium ----------------------------------------------------------------------------

CANVAS = "canvas[role=img]"
DIGEST = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0; for (let i = 0; i < d.length; i += 4) h = (Math.imul(h, 31) + d[i]) | 0; return h; }"""
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
PIXELS = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = []; for (let i = 0; i < d.length; i += 4) out.push(d[i]); return out; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("live") / "server.log"
    with streamlit_server({"GAN_EXPLORER_LIVE": "1"}, log, script=PAGE) as url:
        yield url


@pytest.fixture
def browser_page():
    with chromium(1280, 900) as p:
        yield p


def received_frame_sizes(page) -> list[int]:
    """The sizes of the websocket frames the page receives from now on, appended as they arrive."""
    sizes: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: sizes.append(len(f))))
    return sizes


def _ready(page, url: str) -> str:
    open_app(page, url)
    page.wait_for_selector(CANVAS, timeout=60_000)
    return page.evaluate("() => [...ganLive.models.keys()][0]")


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_G_equals_gan_cores_decode_for_100_seeded_z(server, browser_page, book):
    G, _ = book
    key = _ready(browser_page, server)
    z = torch.cat([z_from_seed(s) for s in range(100)])
    expected = decode(G, z).reshape(100, -1).astype(int)
    got = np.array(browser_page.evaluate("([key, zs]) => zs.map(z => ganLive.pixels(key, z))", [key, z.tolist()]))
    diff = np.abs(got - expected)
    assert diff.max() <= 1, f"{diff.max()} grey levels apart"
    assert (diff > 0).mean() < 0.001      # float32 weights: nearly every pixel is exactly the library's


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_lerp_and_slerp_are_gan_cores(server, browser_page, book):
    G, _ = book
    key = _ready(browser_page, server)
    a, b = z_from_seed(1)[0], z_from_seed(2)[0]
    pairs = [(a, b), (a, -a), (a, 2 * a), (a, torch.zeros(64))]   # apart; opposite; parallel; a zero end
    for x, y in pairs:
        for t in (0.0, 0.3, 0.5, 1.0):
            for mode, f in (("lerp", lerp), ("slerp", slerp)):
                got = np.array(browser_page.evaluate(f"([a, b, t]) => Array.from(ganLive.{mode}(a, b, t))",
                                                     [x.tolist(), y.tolist(), t]))
                assert np.allclose(got, f(x, y, t).numpy(), atol=1e-5), (mode, t)
    frames = interpolate(a, b, 10, "slerp")
    expected = decode(G, frames).reshape(10, -1).astype(int)
    got = np.array(browser_page.evaluate(
        "([key, a, b]) => [...Array(10).keys()].map(i => ganLive.pixels(key, ganLive.slerp(a, b, i / 9)))",
        [key, a.tolist(), b.tolist()]))
    assert np.abs(got - expected).max() <= 1


@pytest.mark.browser
@pytest.mark.slow
def test_one_drag_shows_many_pictures_before_python_hears_of_it(server, browser_page):
    page = browser_page
    _ready(page, server)
    canvas = page.locator(CANVAS).first
    thumb = page.locator("input[type=range][data-direction='0']")
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    seen, values = {canvas.evaluate(DIGEST)}, {thumb.input_value()}
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(40):   # 6 px a move: about two moves in three change the slider's value (0.1 in 9 px)
        page.mouse.move(x + 6 * (step + 1), y)
        page.evaluate(NEXT_FRAME)
        seen.add(canvas.evaluate(DIGEST))
        values.add(thumb.input_value())
    assert page.get_by_text("releases: 0").is_visible()           # nothing reached Python while dragging
    page.mouse.up()
    page.get_by_text("releases: 1").wait_for(timeout=30_000)
    wait_idle(page)
    # every value the slider took during the drag was drawn, each a picture of its own
    assert len(values) >= 20 and len(seen) == len(values), f"{len(seen)} pictures for {len(values)} values"
    reported = json.loads(page.locator("code").inner_text())
    assert reported["amounts"][0] > 0.5
    value = float(thumb.input_value())
    assert math.isclose(reported["amounts"][0], value, abs_tol=1e-9)
    # the rerun told the page the position it had reported: the slider stays where it was let go
    page.evaluate(NEXT_FRAME)
    assert float(thumb.input_value()) == value


@pytest.mark.browser
@pytest.mark.slow
def test_a_rerun_does_not_resend_the_weights(server, browser_page):
    page = browser_page
    frames = received_frame_sizes(page)
    _ready(page, server)
    assert max(frames) > 1_500_000                       # the first drawing carried the weights
    frames.clear()
    seed, shown = page.get_by_label("seed"), page.locator("code")
    before = shown.inner_text()
    seed.fill("7")
    seed.press("Enter")
    wait_until(lambda: shown.inner_text() != before, "the page to show seed 7's z")
    wait_idle(page)
    assert frames and max(frames) < 100_000, frames
    # a page that lost them (more models than it keeps) asks, and gets them again
    page.evaluate("() => ganLive.models.clear()")
    seed.fill("8")
    seed.press("Enter")
    page.wait_for_function("() => ganLive.models.size === 1", timeout=30_000)


@pytest.mark.browser
@pytest.mark.slow
def test_the_walk_is_drawn_in_the_page_and_plays(server, browser_page):
    page = browser_page
    open_app(page, server + "/?mode=walk")
    page.wait_for_selector(CANVAS, timeout=60_000)
    canvases = page.locator(CANVAS)
    expect(canvases).to_have_count(2, timeout=30_000)
    before = canvases.nth(1).evaluate(DIGEST)
    page.get_by_role("button", name="Play").click()
    seen = set()
    for _ in range(20):
        page.evaluate(NEXT_FRAME)
        seen.add(canvases.nth(1).evaluate(DIGEST))
    page.get_by_role("button", name="Pause").click()
    assert len(seen) >= 10
    frame = page.get_by_label("Frame")
    frame.focus()
    page.keyboard.press("End")
    page.get_by_text("frame: 10").wait_for(timeout=30_000)
    assert canvases.nth(1).evaluate(DIGEST) != before
    # on a projector: one walk, large (about 62% of the window's height)
    open_app(page, server + "/?mode=walk&walks=slerp&present=1")
    page.wait_for_selector(CANVAS, timeout=60_000)
    assert page.locator(CANVAS).count() == 1
    side = page.locator(CANVAS).bounding_box()["height"]
    assert side % 28 == 0 and 0.6 * 900 <= side <= 0.64 * 900   # the nearest whole number to 62% of 900 px
    assert page.get_by_text("Spherical (slerp), frame 6/10").is_visible()   # a new session: the middle


@pytest.mark.browser
@pytest.mark.slow
def test_an_unsupported_architecture_draws_on_the_server_in_the_browser(server, browser_page):
    page = browser_page
    open_app(page, server + "/?mode=server")
    page.get_by_text("server picture").wait_for(timeout=60_000)   # the last element the page draws
    # the browser mounts sliders lazily: one can still be a placeholder when the picture below it shows
    expect(page.locator("[data-testid=stSlider]")).to_have_count(8, timeout=30_000)
    assert page.locator(CANVAS).count() == 0
    assert page.get_by_text("is drawn on the server").is_visible()
    assert page.locator("[data-testid=stImage] img").count() == 1


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_hovering_the_map_shows_each_point_of_the_plane(server, browser_page, book, mode):
    G, _ = book
    page = browser_page
    open_app(page, f"{server}/?mode=plane&interp={mode}")
    page.wait_for_selector(CANVAS, timeout=60_000)
    grid, preview = page.locator(CANVAS).nth(0), page.locator(CANVAS).nth(1)
    corners = [z_from_seed(s)[0] for s in (1, 2, 3)]
    expected = decode(G, plane_z(*corners, rows=9, cols=9, mode=mode).reshape(81, -1)).reshape(81, -1).astype(int)
    box = grid.bounding_box()

    def centre(i: float, j: float) -> tuple[float, float]:
        """Where cell (i, j)'s centre is on the screen: 9 cells of 28 px, 1 px around each, 262 px in all."""
        return box["x"] + box["width"] * (1 + j * 29 + 14) / 262, box["y"] + box["height"] * (1 + i * 29 + 14) / 262

    def hover(i: float, j: float) -> np.ndarray:
        page.mouse.move(*centre(i, j))
        page.evaluate(NEXT_FRAME)
        return np.array(preview.evaluate(PIXELS))

    for i, j in ((0, 0), (0, 8), (8, 0), (8, 8), (4, 4), (2, 7)):
        assert np.abs(hover(i, j) - expected[i * 9 + j]).max() <= 1, (i, j)
    between = hover(4, 4.5)                    # half way between two cells: a picture of its own
    assert np.abs(between - expected[4 * 9 + 4]).max() > 1 and np.abs(between - expected[4 * 9 + 5]).max() > 1
    page.mouse.click(*centre(2, 7))
    page.get_by_text("cell: 25").wait_for(timeout=30_000)   # row 3, column 8
    grid.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.get_by_text("cell: 34").wait_for(timeout=30_000)


@pytest.mark.browser
@pytest.mark.slow
def test_two_components_on_one_page_share_one_copy_of_the_weights(server, browser_page):
    page = browser_page
    frames = received_frame_sizes(page)
    open_app(page, server + "/?mode=both")
    page.wait_for_function("() => window.ganLive && ganLive.models.size === 1", timeout=60_000)
    canvases = page.locator(CANVAS)
    page.wait_for_timeout(1500)            # longer than an instance waits before asking for weights again
    wait_idle(page)
    assert sum(f > 1_000_000 for f in frames) == 1, sorted(frames)[-3:]
    assert canvases.count() == 1 + 8 + 2   # the picture, 8 strips, the map and its preview
    lit = [max(c.evaluate(PIXELS)) for c in canvases.all()]
    assert min(lit) > 0, lit               # every one drawn (a canvas never drawn on is all 0)


@pytest.mark.browser
@pytest.mark.slow
def test_a_walk_plays_in_the_picture_and_ends_at_the_new_base(server, browser_page, book):
    G, _ = book
    page = browser_page
    _ready(page, server)
    canvas = page.locator(CANVAS).first
    start = canvas.evaluate(DIGEST)
    page.get_by_role("button", name="Walk to seed 5").click()
    seen, t0 = [], time.monotonic()
    while time.monotonic() - t0 < 4:   # the walk takes 1.5 s once the rerun reaches the page
        page.evaluate(NEXT_FRAME)
        seen.append(canvas.evaluate(DIGEST))
    walked = set(seen) - {start}
    assert len(walked) >= 4, f"{len(walked)} pictures in the walk"   # 1.5 s at the display's rate, on a busy machine
    assert seen[-1] == seen[-2]                                       # and then it stays
    end = np.array(canvas.evaluate(PIXELS))
    assert np.abs(end - decode(G, z_from_seed(5)).ravel().astype(int)).max() <= 1   # the walk's end: seed 5's picture


# ---- the app's pages with G in the browser (AppTest; the suite's default is the server path) --------

def _app_component(at, mode: str):
    found = [e.proto for e in at.get("bidi_component") if json.loads(e.proto.json)["mode"] == mode]
    assert len(found) == 1, [json.loads(e.proto.json)["mode"] for e in at.get("bidi_component")]
    return found[0]


def _app_report(at, proto, state: dict) -> None:
    states = at._tree.get_widget_states()
    w = states.widgets.add()
    w.id = proto.id
    w.json_value = json.dumps(state)
    at._run(states)
    assert not at.exception, at.exception


def test_the_latent_page_draws_in_the_browser_and_a_release_is_judged_and_kept_in_the_url(clean):
    at = helpers.app()
    assert not at.get("slider")                                  # no server sliders: the browser holds them
    proto = _app_component(at, "latent")
    data = json.loads(proto.json)
    assert len(data["directions"]) == 8 and data["labels"][0].startswith("1")
    assert "D's verdict" in data["caption"]
    before = data["caption"]
    base = data["position"]["base"]
    amounts = [1.5, 0, 0, 0, 0, 0, 0, -0.5]
    _app_report(at, proto, {"position": {"base": base, "amounts": amounts, "z": []}})
    after = json.loads(_app_component(at, "latent").json)
    assert after["position"]["amounts"] == amounts
    assert after["caption"] != before                            # D judged the released z
    assert at.query_params["d"] == "1.5,0,0,0,0,0,0,-0.5"        # and the link says it
    assert at.session_state["latent.z"] == pytest.approx(
        (torch.tensor(base) + torch.tensor(amounts) @ torch.tensor(data["directions"])).tolist(), abs=1e-5)


def test_the_latent_pages_map_is_drawn_in_the_browser_and_a_click_sets_the_picture(clean):
    at = helpers.app(**{"latent.map_open": True})
    proto = _app_component(at, "plane")
    _app_report(at, proto, {"position": {"cell": 40}})
    cells = at.session_state["latent.map.cells"]
    assert json.loads(_app_component(at, "latent").json)["position"]["base"] == pytest.approx(cells[40].tolist())
    assert "Row 5, column 5" in " ".join(e.value for e in at.get("caption"))


def test_the_interpolate_page_scrubs_in_the_browser_and_the_url_keeps_the_frame(clean):
    at = helpers.app("views/interpolate.py")
    proto = _app_component(at, "walk")
    data = json.loads(proto.json)
    assert data["modes"] == ["lerp", "slerp"] and data["frames"] == 10 and data["position"]["frame"] == 6
    _app_report(at, proto, {"position": {"frame": 9}})
    assert json.loads(_app_component(at, "walk").json)["position"]["frame"] == 9
    assert at.query_params["frame"] == "9"
    at.query_params["present"] = "1"
    at.run()
    assert json.loads(_app_component(at, "walk").json)["modes"] == ["slerp"]   # a projector: the chosen walk


def test_a_steering_walk_is_sent_to_the_browser_once_to_play(clean):
    at = helpers.app()
    at.button(key="latent.steer_button").click().run()
    assert not at.exception, at.exception
    data = json.loads(_app_component(at, "latent").json)
    path = np.array(data["play"]["path"])
    assert path.shape[1] == 64 and len(path) >= 1
    assert np.allclose(path[-1], data["position"]["base"], atol=1e-6)   # the walk ends at the new base
    at.run()
    assert json.loads(_app_component(at, "latent").json)["play"] is None   # played once, not on every rerun


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width, height", [(1024, 768), (1280, 720)])
def test_on_a_projector_the_pictures_drawn_in_the_browser_are_large_and_on_the_screen(tmp_path, width, height):
    env = {"GAN_EXPLORER_LIVE": "1", "GAN_EXPLORER_RUNS": str(tmp_path / "runs")}
    problems = []
    with streamlit_server(env, tmp_path / "server.log") as url, chromium(width, height) as page:
        for lang in ("en", "ko"):
            for name in ("latent", "interpolate"):
                open_app(page, f"{url}/{name}?present=1&lang={lang}")
                page.wait_for_selector(CANVAS, timeout=90_000)
                wait_idle(page)
                box = page.locator(CANVAS).first.bounding_box()
                wide = page.evaluate("() => document.documentElement.scrollWidth")
                if not (box["height"] >= 0.6 * height and box["y"] + box["height"] <= height and box["height"] % 28 == 0):
                    problems.append(f"{name} {lang}: picture {box}")
                if wide > width:
                    problems.append(f"{name} {lang}: {wide} px wide")
    assert not problems, problems
