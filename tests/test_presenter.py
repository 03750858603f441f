"""Presenter mode: ?present=1 or the sidebar switch, kept across pages; the projector's layout.

    .venv/bin/pytest tests/test_presenter.py -m "not slow"     # in-process (AppTest)
    .venv/bin/pytest tests/test_presenter.py -m browser        # the real app at 1024x768 and 1280x720, with screenshots

In a real browser, on every page of the Latent, Interpolate, Timeline, Quality, Lesson and Project pages,
in English and Korean, presenter mode on and off: no button's text is clipped, nothing needs a
horizontal scroll, and on a projector the picture of Latent, Interpolate and Timeline is at least
60% of the screen's height. Screenshots go to GAN_EXPLORER_SHOTS (a folder) when it is set.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from helpers import APP, app, chromium, open_app, streamlit_server

from explorer import presenter


def test_a_link_turns_presenter_mode_on_and_every_page_keeps_it(clean):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["present"] = "1"
    at.switch_page("views/latent.py").run()
    assert not at.exception
    assert at.session_state[presenter.CHOICE] is True and at.toggle(key=presenter.SWITCH).value is True
    assert any("font-size: 19px" in h.proto.body for h in at.get("html")), "the projector's styles are missing"
    # Streamlit clears the query parameters on another page: the mode writes itself back.
    at.query_params.clear()
    at.switch_page("views/interpolate.py").run()
    assert at.query_params["present"] == "1" and not at.exception
    # The switch turns it off, and the URL then says nothing of it.
    at.toggle(key=presenter.SWITCH).set_value(False).run()
    assert "present" not in at.query_params and at.session_state[presenter.CHOICE] is False
    assert not any("font-size: 19px" in h.proto.body for h in at.get("html"))
    at.switch_page("views/timeline.py").run()
    assert "present" not in at.query_params


def test_on_a_projector_the_latent_page_folds_steering_away_and_keeps_the_sliders(clean):
    normal = app()
    assert "Steer to a class" not in [e.label for e in normal.expander]
    at = app(**{presenter.CHOICE: True})
    labels = [e.label for e in at.expander]
    assert "Steer to a class" in labels and "What this page shows" in labels
    assert len(at.get("slider")) == 8, "the direction sliders stay on show"
    assert at.button(key="latent.steer_button") is not None   # folded, not gone


# ---- the real app in a browser ------------------------------------------------------------------

PAGES = ("latent", "interpolate", "timeline", "quality", "lesson", "project")
PICTURE_PAGES = ("latent", "interpolate", "timeline")
SIZES = ((1024, 768), (1280, 720))
PICTURE = "[class*=st-key-][class*=-picture] [data-testid=stImage] img"
# Every visible button (and page link) whose text, or any element inside it, is wider than its box; the
# page's width against the window's; the presenter's picture as drawn (a square image, contained in its box).
MEASURE = """() => {
  const clipped = [...document.querySelectorAll('[data-testid=stMain] button, [data-testid=stMain] [data-testid=stPageLink] a')]
    .filter(b => b.offsetParent && [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
    .map(b => b.innerText.replace(/\\s+/g, ' ').trim());
  const pic = document.querySelector(arguments_picture);
  const r = pic && pic.getBoundingClientRect();
  return {page_width: document.documentElement.scrollWidth, clipped,
          picture: r ? Math.min(r.width, r.height) : null,
          sidebar_open: document.querySelector('[data-testid=stSidebar]')?.getAttribute('aria-expanded') === 'true',
          root_font: getComputedStyle(document.documentElement).fontSize};
}""".replace("arguments_picture", repr(PICTURE))


def settle(page, timeout: float = 120.0) -> None:
    """Until the script is idle, no spinner or progress bar shows, and the page stops changing for a second."""
    deadline, last, calm = time.monotonic() + timeout, None, 0
    while time.monotonic() < deadline:
        state = page.evaluate("""() => [document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state'),
            document.querySelectorAll('[data-testid=stSpinner], [data-testid=stProgress]').length,
            document.querySelectorAll('[data-testid=stMain] *').length]""")
        calm = calm + 1 if state[0] == "notRunning" and state[1] == 0 and state == last else 0
        if calm >= 4:
            return
        last = state
        time.sleep(0.25)
    raise AssertionError("the page did not settle")


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data_dir):
    """The app with the shipped checkpoints (the book model and its snapshots) and a 3,000-image data set."""
    tmp = tmp_path_factory.mktemp("presenter")
    env = {"GAN_EXPLORER_RUNS": str(tmp / "runs"), "GAN_EXPLORER_DATA": str(small_data_dir)}
    with streamlit_server(env, tmp / "server.log") as url:
        yield url


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(900)
@pytest.mark.parametrize("width,height", SIZES)
def test_every_page_fits_the_screen_and_the_projector_shows_the_picture_large(server, width, height):
    shots = Path(os.environ["GAN_EXPLORER_SHOTS"]) if os.environ.get("GAN_EXPLORER_SHOTS") else None
    problems = []
    with chromium(width, height) as page:
        for name in PAGES:
            for lang in ("en", "ko"):
                for present in (False, True):
                    where = f"{name} {width}x{height} {lang}{' presenter' if present else ''}"
                    open_app(page, f"{server}/{name}?lang={lang}" + ("&present=1" if present else ""))
                    if name in PICTURE_PAGES and present:
                        page.wait_for_selector(PICTURE, timeout=60_000)
                    settle(page)
                    m = page.evaluate(MEASURE)
                    if shots:
                        page.screenshot(path=str(shots / f"{name}-{width}x{height}-{lang}{'-present' if present else ''}.png"))
                    if m["page_width"] > width:
                        problems.append(f"{where}: a horizontal scroll ({m['page_width']} px wide)")
                    if m["clipped"]:
                        problems.append(f"{where}: clipped {m['clipped']}")
                    if present:
                        if m["sidebar_open"]:
                            problems.append(f"{where}: the sidebar is open")
                        if m["root_font"] != "19px":
                            problems.append(f"{where}: type at {m['root_font']}")
                        if name in PICTURE_PAGES and not (m["picture"] or 0) >= 0.6 * height:
                            problems.append(f"{where}: the picture is {m['picture']} px high, under 60% of {height}")
    assert not problems, "\n".join(problems)
