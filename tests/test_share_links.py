"""Shareable links: the Latent, Interpolate, Timeline and Quality pages keep their state in the URL.

    .venv/bin/pytest tests/test_share_links.py -m "not slow"   # in-process (AppTest)
    .venv/bin/pytest tests/test_share_links.py -m browser      # a link opened in a second browser: the same bytes

A value the page cannot use is named in one line and the page works on; the Share button copies the
address; Random on the Latent page never blanks the picture (the old one stays until the new one comes).
"""
from __future__ import annotations

import base64
import time
from urllib.parse import unquote

import pytest
import torch
from streamlit.testing.v1 import AppTest

from helpers import APP, chromium, image_urls, launch_chromium, open_app, streamlit_server, texts

from gan_core import z_from_seed
from explorer import share_link


def opened(page: str, **params: str) -> AppTest:
    """A fresh session opening page with these URL parameters, as a link does."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def picture(at: AppTest, caption_part: str = "") -> str:
    """The url of the page's main picture (AppTest names media by their content: same bytes, same url)."""
    return next(img.url for el in at.get("image") for img in el.proto.imgs if caption_part in img.caption)


# ---- Latent ------------------------------------------------------------------------------------

def test_a_latent_link_opens_the_same_seed_and_slider_values(clean):
    at = opened("views/latent.py", seed="7", d="0.5,0,-1.2")
    assert at.session_state["latent.base"] == z_from_seed(7, 1, 64)[0].tolist()
    assert [at.slider(key=f"latent.a{i}").value for i in range(3)] == [0.5, 0.0, -1.2]
    assert at.query_params["seed"] == "7" and at.query_params["d"] == "0.5,0,-1.2"
    assert at.query_params["model"] == "checkpoint:book.pt"
    # The same link in another session: the same picture.
    assert picture(opened("views/latent.py", seed="7", d="0.5,0,-1.2"), "verdict") == picture(at, "verdict")
    assert picture(opened("views/latent.py", seed="8", d="0.5,0,-1.2"), "verdict") != picture(at, "verdict")


def test_the_latent_url_follows_the_page_and_carries_z_when_no_seed_gives_it(clean):
    at = opened("views/latent.py")
    next(b for b in at.button if b.label == "Random").click().run()
    seed = at.session_state["latent.seed"]
    assert at.query_params["seed"] == str(seed) and "z" not in at.query_params
    at.slider(key="latent.a1").set_value(1.3).run()
    assert at.query_params["d"] == "0,1.3"
    # Start here: the base is no seed's z any more, so the link carries z itself, exactly.
    next(b for b in at.button if b.label == "Start here").click().run()
    assert "d" not in at.query_params and "z" in at.query_params
    shown = picture(at, "verdict")
    again = opened("views/latent.py", **dict(at.query_params))
    assert picture(again, "verdict") == shown
    assert torch.equal(torch.tensor(again.session_state["latent.base"]),
                       torch.tensor(at.session_state["latent.base"], dtype=torch.float32))


def test_bad_link_values_are_named_in_one_line_and_the_page_works(clean):
    at = opened("views/latent.py", seed="abc", d="9,x", z="nonsense", model="checkpoint:gone.pt")
    said = texts(at, "warning")
    for value in ("seed=abc", "d=9,x", "z=nonsense", "checkpoint:gone.pt"):
        assert value in said, (value, said)
    assert all("\n" not in w.value for w in at.warning)
    assert picture(at, "verdict")                         # the page still draws
    assert at.query_params["seed"] == "0"                 # and the URL now says what it shows
    ko = opened("views/latent.py", seed="-5", lang="ko")
    assert "seed=-5" in texts(ko, "warning") and "무시" in texts(ko, "warning")


def test_z_text_round_trips_float32_exactly():
    z = torch.randn(64)
    raw = base64.urlsafe_b64decode(share_link.z_text(z) + "==")
    assert torch.equal(torch.frombuffer(bytearray(raw), dtype=torch.float32), z)


# ---- Interpolate, Timeline, Quality ------------------------------------------------------------

def test_an_interpolate_link_sets_both_ends_the_walk_and_the_frame(clean):
    z = z_from_seed(9, 1, 64)[0] * 0.5
    params = dict(a="5", b="z:" + share_link.z_text(z), mode="lerp", frames="7", frame="2")
    at = opened("views/interpolate.py", **params)
    assert at.number_input(key="interp.A.seed").value == 5 and at.radio(key="interp.B.src").value == "link"
    assert at.slider(key="interp.frames").value == 7 and at.slider(key="interp.frame").value == 2
    assert {k: at.query_params[k] for k in params} == params
    assert image_urls(opened("views/interpolate.py", **params)) == image_urls(at)
    bad = opened("views/interpolate.py", a="1", b="2", frames="99", mode="cubic")
    assert "frames=99" in texts(bad, "warning") and "mode=cubic" in texts(bad, "warning")
    assert bad.slider(key="interp.frames").value == 10


def test_a_timeline_link_sets_the_seed_and_the_epoch(clean):
    at = opened("views/timeline.py", seed="3", epoch="50")
    assert at.number_input(key="timeline.seed").value == 3 and at.select_slider(key="timeline.epoch").value == 50
    assert at.query_params["epoch"] == "50" and at.query_params["model"] == "checkpoints:book-snapshots"
    bad = opened("views/timeline.py", epoch="4", model="run:nothing")
    said = texts(bad, "warning")
    assert "epoch=4" in said and "run:nothing" in said and bad.select_slider(key="timeline.epoch").value == 1


def test_the_quality_page_keeps_its_model_and_settings_in_the_url(clean, monkeypatch, small_data_dir, tmp_path):
    from helpers import untrained_checkpoint
    untrained_checkpoint(tmp_path / "checkpoints")
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    at = opened("views/quality.py", model="checkpoint:untrained.pt", n="500", seed="4")
    assert at.selectbox(key="model.source").value == "checkpoint:untrained.pt"
    assert (at.query_params["model"], at.query_params["n"], at.query_params["seed"]) == (
        "checkpoint:untrained.pt", "500", "4")


# ---- in a real browser -------------------------------------------------------------------------

# Each page's main picture (on Interpolate and Timeline, the presenter's: the scrubbed frame or epoch alone).
PICTURES = {name: f".st-key-{name}-picture [data-testid=stImage] img" for name in ("latent", "interp", "timeline")}
FETCH = """async sel => {
  const img = document.querySelector(sel);
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("links")
    with streamlit_server({"GAN_EXPLORER_RUNS": str(tmp / "runs")}, tmp / "server.log") as url:
        yield url


def idle(page) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=60_000)
    time.sleep(0.5)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=60_000)


def bytes_of(page, sel: str) -> bytes:
    page.wait_for_selector(sel, timeout=60_000)
    return base64.b64decode(page.evaluate(FETCH, sel))


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_link_opened_in_a_fresh_browser_shows_the_same_picture_byte_for_byte(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            teacher = browser.new_page(viewport={"width": 1280, "height": 900})
            checks = []
            # Latent: Random, then two direction steps.
            open_app(teacher, f"{server}/latent")
            teacher.get_by_role("button", name="Random").click()
            idle(teacher)
            thumb = teacher.locator("[class*=st-key-latent-a1] input[type=range], [class*=st-key-latent-a1] [role=slider]")
            thumb.first.focus()
            teacher.keyboard.press("ArrowRight")
            teacher.keyboard.press("ArrowRight")
            idle(teacher)
            assert "d=0,0.2" in unquote(teacher.url)
            checks.append(("latent", teacher.url, bytes_of(teacher, PICTURES["latent"])))
            # Interpolate (on a projector: one walk's frame, large): another B, 7 frames, lerp, frame 2.
            open_app(teacher, f"{server}/interpolate?present=1&b=123&frames=7&frame=2&mode=lerp")
            idle(teacher)
            checks.append(("interp", teacher.url, bytes_of(teacher, PICTURES["interp"])))
            # Timeline (on a projector): seed 11, then one epoch further with the arrow key.
            open_app(teacher, f"{server}/timeline?present=1&seed=11&epoch=20")
            idle(teacher)
            teacher.locator(".st-key-timeline-epoch input[type=range]").first.focus()
            teacher.keyboard.press("ArrowRight")
            idle(teacher)
            assert "epoch=50" in unquote(teacher.url)
            checks.append(("timeline", teacher.url, bytes_of(teacher, PICTURES["timeline"])))
            for name, url, shown in checks:
                assert "?" in url and "model=" in url, (name, url)
                student = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
                open_app(student, url)
                idle(student)
                assert bytes_of(student, PICTURES[name]) == shown, f"{name}: {url} shows another picture"
                student.context.close()
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_random_never_blanks_the_picture_and_share_copies_the_address(server):
    """A MutationObserver notes every moment the Latent picture is missing from the page during a Random click."""
    with chromium(1024, 768) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        open_app(page, f"{server}/latent?seed=3")
        sel = ".st-key-latent-picture [data-testid=stImage] img"
        page.wait_for_selector(sel, timeout=60_000)
        idle(page)
        page.evaluate("""sel => {
          window.__gone = []; window.__srcs = new Set([document.querySelector(sel).src]);
          const t0 = performance.now();
          const look = why => {
            const img = document.querySelector(sel);
            if (!img) window.__gone.push([why, Math.round(performance.now() - t0),
              document.querySelectorAll('[data-testid=stMain] [data-testid=stImage]').length]);
            else window.__srcs.add(img.src);
          };
          new MutationObserver(() => look('mutation')).observe(document.body, {subtree: true, childList: true,
                                                                              attributes: true});
          const frame = () => { look('frame'); requestAnimationFrame(frame); };
          requestAnimationFrame(frame);
        }""", sel)
        for _ in range(3):
            page.get_by_role("button", name="Random").click()
            idle(page)
        gone, srcs = page.evaluate("() => [window.__gone, window.__srcs.size]")
        assert srcs >= 3, "Random did not change the picture"
        assert not gone, f"the picture was missing during Random clicks: [why, ms, images on the page] {gone}"

        page.get_by_role("button", name="Share").click()
        page.get_by_role("button", name="Copy link").click()
        page.get_by_text("Copied.").wait_for(timeout=10_000)
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == page.url and "seed=" in copied, (copied, page.url)
