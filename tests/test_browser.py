"""The real app in a real browser: a Streamlit server on a loopback port, driven by headless Chromium.

    .venv/bin/pytest -m browser tests/test_browser.py

What only a browser shows: the page polls a live run by itself (st.fragment's
run_every, which AppTest never fires), a reload comes back to the same run via
the URL, a keyboard slider change reaches the picture, and stopping the server
stops its training children.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import chromium, open_app, streamlit_server, training_children, untrained_checkpoint, wait_until  # noqa: E402

from gan_core import RunFolder, list_runs  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

IMAGE = "[data-testid=stMain] [data-testid=stImage] img"
DIRECTION_THUMBS = "[data-testid=stMain] [class*=st-key-latent-a] input[type=range]"   # keys latent.a0 ... a7
WAIT_MS = 60_000   # generous: the server, the browser and a training run share two cores


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data_dir):
    """The app on a free port, with an untrained model, an empty runs folder and a 3,000-image data set."""
    tmp = tmp_path_factory.mktemp("browser")
    untrained_checkpoint(tmp / "checkpoints")
    env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_CHECKPOINTS": str(tmp / "checkpoints"),
           "GAN_EXPLORER_DATA": str(small_data_dir)}
    with streamlit_server(env, tmp / "server.log") as url:
        yield url, tmp / "runs"
    # The server got SIGTERM: it must have stopped every run it started.
    deadline = time.monotonic() + 10
    while training_children(tmp / "runs") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not training_children(tmp / "runs"), "training children outlived the server"
    for run in list_runs(tmp / "runs"):
        assert run.read_status()["state"] not in ("queued", "running", "paused")


@pytest.fixture(scope="module")
def page():
    with chromium() as p:
        yield p


def shown_step(page) -> int:
    """The step number in the Train page's progress bar (0 while there is none yet)."""
    bar = page.locator("[data-testid=stProgress]")
    if not bar.count():
        return 0
    m = re.search(r"step ([\d,]+)/", bar.first.inner_text())
    return int(m.group(1).replace(",", "")) if m else 0


def plotted_steps(page) -> int:
    """How many points the loss chart's smoothed d_loss line (found by its `meta`) holds, from Plotly's own data."""
    return page.evaluate("""() => {
        const plot = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
        const trace = plot && plot._fullData && plot._fullData.find(t => t.meta === 'd_loss');
        return trace ? trace._length : 0; }""")  # _fullData: the traces as Plotly decoded them


def test_a_run_updates_live_and_survives_a_reload(server, page):
    url, runs = server
    # Settings come from the URL, as in a link a teacher hands out; 40 epochs of 30 steps.
    open_app(page, f"{url}/train?epochs=40&batch=100")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"[?&]run="), timeout=WAIT_MS)
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)
    assert RunFolder(runs / run_id).read_status()["config"]["epochs"] == 40

    # No clicks from here on: the page polls the run by itself.
    wait_until(lambda: shown_step(page) > 0, "training to show progress", WAIT_MS / 1000, every=0.25)
    first, points = shown_step(page), plotted_steps(page)
    wait_until(lambda: shown_step(page) > first, "the progress bar to move", WAIT_MS / 1000, every=0.25)
    wait_until(lambda: plotted_steps(page) > points, "the loss chart to grow", WAIT_MS / 1000, every=0.25)

    # A refresh is a new session: the URL brings it back to the same run, which kept training.
    before = shown_step(page)
    page.reload()
    page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=WAIT_MS)
    assert f"run={run_id}" in page.url
    page.get_by_text(f"Run {run_id}").first.wait_for(timeout=WAIT_MS)
    wait_until(lambda: shown_step(page) > before, "the same run to carry on after the reload", WAIT_MS / 1000, every=0.25)

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped after").first.wait_for(timeout=WAIT_MS)
    assert RunFolder(runs / run_id).read_status()["state"] == "stopped"


def test_a_latent_slider_moved_with_the_keyboard_changes_the_image(server, page):
    url, _ = server
    open_app(page, f"{url}/latent")   # "/" opens the lesson
    page.wait_for_selector(IMAGE, timeout=WAIT_MS)
    thumb = page.locator(DIRECTION_THUMBS).nth(3)
    before_value, before_src = thumb.get_attribute("aria-valuetext"), page.locator(IMAGE).first.get_attribute("src")
    thumb.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[IMAGE, before_src],
                           timeout=WAIT_MS)
    assert float(thumb.get_attribute("aria-valuetext")) == pytest.approx(float(before_value) + 0.1, abs=0.026)
    # Still one picture and a strip a direction: every direction slider redraws the same slot.
    assert page.locator(IMAGE).count() == 1 + 8


def test_a_crashing_upload_is_refused_while_other_sessions_keep_working(server, page, tmp_path):
    """A million-deep pickle killed the whole server (SIGSEGV) before the pickle guard: now one line, and
    another student's page keeps answering throughout."""
    import urllib.request

    import hostile_files

    url, _ = server
    evil = tmp_path / "evil.pt"
    evil.write_bytes(hostile_files.deep_nesting(1_000_000))
    open_app(page, f"{url}/latent")
    page.wait_for_selector(IMAGE, timeout=WAIT_MS)
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})   # a session of its own
    try:
        open_app(other, f"{url}/latent")
        other.locator("[data-testid=stSidebar] input[type=file]").set_input_files(str(evil))
        other.get_by_text("nothing in it was loaded").first.wait_for(timeout=WAIT_MS)
        error = other.locator("[data-testid=stSidebar] [data-testid=stAlertContentError]").first.inner_text()
        assert "evil.pt" in error and "refused" in error and "\n" not in error.strip()
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
            assert r.read().strip() == b"ok"
        # The first session still draws: a slider move still changes its picture.
        thumb = page.locator(DIRECTION_THUMBS).nth(5)
        before = page.locator(IMAGE).first.get_attribute("src")
        thumb.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("([sel, old]) => document.querySelector(sel).src !== old", arg=[IMAGE, before],
                               timeout=WAIT_MS)
    finally:
        other.close()


def test_text_from_a_link_is_shown_as_plain_text(server, page):
    """A run name in a shared link is shown as its characters: no bold, no working link, no image that loads itself."""
    from urllib.parse import quote

    url, _ = server
    evil = "**Urgent** [log in here](http://example.invalid/login) ![x](http://127.0.0.1:9/x.png) http://example.invalid"
    open_app(page, f"{url}/train?run={quote(evil)}")
    alert = page.locator("[data-testid=stMain] [data-testid=stAlert]").filter(has_text="The link asks for run").first
    alert.wait_for(timeout=WAIT_MS)
    for tag in ("a", "strong", "em", "img", "code"):
        assert alert.locator(tag).count() == 0, f"<{tag}> rendered from the link's text: {alert.inner_html()[:500]}"
    assert "**Urgent** [log in here](http://example.invalid/login)" in alert.inner_text().replace("\u2060", "")
