"""The Train page in a real browser (Streamlit server + headless Chromium): Continue after a reload, the owner
of a run still its owner after a reload and nobody else's to control, the form refusing a value it cannot use,
and the page at 1024x768 and 1280x720 in English and Korean.

    .venv/bin/pytest tests/test_train_page.py        # all slow: a server, a browser, training children
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from gan_core import RunFolder
from helpers import CHROMIUM_ARGS, CONNECTED, open_app, streamlit_server, wait_idle, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(400)]

WAIT_MS = 90_000   # the server, the browser and a training run share two busy cores
SHOTS = Path(os.environ.get("GAN_EXPLORER_SHOTS") or Path(tempfile.gettempdir()) / "gan-explorer-shots")
PICKER = "[data-testid=stMain] .st-key-train-run input"   # a combobox: the chosen run's label is its value


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data_dir):
    tmp = tmp_path_factory.mktemp("trainpage")
    env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_DATA": str(small_data_dir),
           "GAN_EXPLORER_TEACHER_TOKEN": "teacher-secret-token"}
    with streamlit_server(env, tmp / "server.log") as url:
        yield url, tmp / "runs"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def progress_text(page) -> str:
    bar = page.locator("[data-testid=stMain] [data-testid=stProgress]")
    return bar.first.inner_text() if bar.count() else ""


def reload(page) -> None:
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=WAIT_MS)
    wait_idle(page, WAIT_MS)


def test_continue_after_a_reload_keeps_the_run_and_its_owner_keeps_control(server, browser):
    url, runs = server
    owner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_app(owner, f"{url}/train?epochs=40&batch=100")   # 30 steps an epoch on the small data set
    owner.get_by_role("button", name="Start training").click()
    owner.wait_for_url(re.compile(r"[?&]run="), timeout=WAIT_MS)
    run_id = re.search(r"run=([\w-]+)", owner.url).group(1)
    run = RunFolder(runs / run_id)
    wait_until(lambda: run.checkpoint.is_file() and "Epoch" in progress_text(owner), "an epoch to finish",
               WAIT_MS / 1000, every=0.2)
    owner.get_by_role("button", name="Stop").click()
    wait_until(lambda: run.read_status().get("state") == "stopped", "the run to stop", WAIT_MS / 1000)
    # Without a reload: the picker says how it ended, the sidebar counts it no more, no Pause / Stop remain.
    wait_until(lambda: "stopped after" in owner.locator(PICKER).input_value(), "the picker's label to say stopped",
               WAIT_MS / 1000, explain=lambda: owner.locator(PICKER).input_value())
    wait_until(lambda: "now training 0" in owner.locator("[data-testid=stSidebar]").inner_text(),
               "the sidebar to count no run", WAIT_MS / 1000)
    assert owner.get_by_role("button", name="Pause").count() == 0

    # Later, the owner comes back: a reload is a new Streamlit session, but the same browser.
    reload(owner)
    owner.get_by_role("button", name="Continue").click()
    wait_until(lambda: run.read_status().get("state") in ("running", "finished"), "the run to train again",
               WAIT_MS / 1000)
    time.sleep(2)   # the run used to vanish from the page within half a second
    wait_idle(owner, WAIT_MS)
    assert f"run={run_id}" in owner.url, owner.url
    assert "Choose a run" not in owner.locator(PICKER).input_value()
    owner.get_by_role("button", name="Stop").wait_for(timeout=WAIT_MS)   # the page shows it training, controllable

    # Another browser watches the same link: no controls, and why.
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_app(other, f"{url}/train?run={run_id}")
    other.get_by_text("You are watching this run").first.wait_for(timeout=WAIT_MS)
    assert other.get_by_role("button", name="Stop").count() == 0
    assert other.get_by_role("button", name="Delete").count() == 0

    # The teacher's link makes that browser's session a teacher's; the token leaves the URL at once.
    open_app(other, f"{url}/train?run={run_id}&token=teacher-secret-token")
    wait_until(lambda: "token" not in other.url, "the token to leave the URL", 10)
    other.get_by_role("button", name="Stop").wait_for(timeout=WAIT_MS)

    # A reload brings the owner back to the run, still its owner.
    reload(owner)
    assert f"run={run_id}" in owner.url
    owner.get_by_role("button", name="Stop").click()
    wait_until(lambda: run.read_status().get("state") in ("stopped", "finished"), "the run to end", WAIT_MS / 1000)
    owner.context.close()
    other.context.close()


def test_a_value_the_form_cannot_use_is_said_next_to_its_box_and_start_waits(server, browser):
    url, runs = server
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_app(page, f"{url}/train?epochs=3")
    before = set(p.name for p in runs.iterdir()) if runs.exists() else set()
    box = page.locator("[data-testid=stSidebar] .st-key-epochs input")
    box.fill("0")
    box.press("Enter")
    page.get_by_text("It must be from 1 to 100,000.").first.wait_for(timeout=WAIT_MS)
    start = page.get_by_role("button", name="Start training")
    assert start.is_disabled()
    assert box.input_value() == "0"
    batch = page.locator("[data-testid=stSidebar] .st-key-batch input")
    box.fill("2")
    box.press("Enter")
    batch.fill("70000")
    batch.press("Enter")
    page.get_by_text("the number of training images").first.wait_for(timeout=WAIT_MS)
    assert start.is_disabled()
    start.click(force=True)   # a click on the disabled button starts nothing
    wait_idle(page, WAIT_MS)
    assert (set(p.name for p in runs.iterdir()) if runs.exists() else set()) == before
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("size", [(1024, 768), (1280, 720)])
def test_the_train_page_fits_small_screens(server, browser, lang, size):
    """Screenshots to look at (SHOTS), and no button whose text is cut, nothing wider than the window."""
    from test_run_control import fake_run
    url, runs = server
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    if not (runs / "shown").exists():   # a stopped run, as the teacher sees it: title, Delete, Continue
        fake_run(runs, "shown", owner=None, epochs=10, epoch=3)
    open_app(page, f"{url}/train?lang={lang}&run=shown&token=teacher-secret-token")
    page.get_by_role("button", name="Continue" if lang == "en" else "이어서 학습").wait_for(timeout=WAIT_MS)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"train-{lang}-{size[0]}x{size[1]}.png"), full_page=True)
    clipped = page.evaluate("""() => [...document.querySelectorAll('button')]
        .filter(b => b.offsetParent && b.scrollWidth > b.clientWidth + 1).map(b => b.innerText)""")
    assert not clipped, clipped
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.context.close()
