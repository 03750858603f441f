"""The Compare page: two runs' curves overlaid and their samples side by side, picked in the page or by a link."""
from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest

from gan_core import RunFolder
from helpers import APP, ROOT, array, chart, image_captions, shown, texts

PAGE = "views/compare.py"
LESSONS = ROOT / "checkpoints" / "lessons"


def open_compare(**query):
    """A new session opening /compare with these URL parameters."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(APP), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = str(v)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def csv_column(path, name: str) -> np.ndarray:
    with open(path, newline="") as f:
        return np.array([float(row[name]) for row in csv.DictReader(f)])


def mean_score(folder, epoch: int) -> str:
    """D's mean score on a run's samples after `epoch` epochs, as the page writes it (read here from the file)."""
    with np.load(folder / "samples" / f"epoch-{epoch - 1:04d}.npz") as z:
        return f"{float(z['scores'].mean()):.2f}"


def fake_run(root, name: str, sample_epochs, title: str | None = None) -> RunFolder:
    """A run folder as the trainer leaves it: one history row and one sample grid per finished epoch (0-based)."""
    run = RunFolder(root / name)
    epochs = list(sample_epochs)
    run.write_status("finished", epoch=epochs[-1] + 1, epochs=epochs[-1] + 1)
    run.write_history({"epoch": epochs, "mean_d_loss": [1.0 + e for e in epochs], "mean_g_loss": [2.0 + e for e in epochs],
                       "mean_d_x": [0.9] * len(epochs), "mean_d_g_z": [0.1] * len(epochs)})
    for e in epochs:
        images = np.full((16, 28, 28), 10 * e, np.uint8)
        run.write_samples(images, np.full(16, e / 100, np.float32), e, 100 * (e + 1))
    if title:
        run.write_title(title)
    return run


@pytest.fixture
def own_runs(clean, monkeypatch):
    """Only this server's runs (no shipped ones): an empty checkpoints folder."""
    (clean / "ck").mkdir()
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(clean / "ck"))
    return clean / "runs"


def test_a_link_opens_two_shipped_runs_at_one_epoch_and_the_url_follows_the_picks(clean):
    at = open_compare(a="lesson:quick", b="lesson:d_too_fast", epoch=4)
    assert at.selectbox(key="compare.a").value == "lesson:quick"
    assert at.selectbox(key="compare.b").value == "lesson:d_too_fast"
    assert at.select_slider(key="compare.epoch").value == 4
    assert len(image_captions(at)) == 2
    captions = texts(at, "caption")
    assert f"A · after 4 epochs · D's mean score on these: {mean_score(LESSONS / 'quick', 4)}" in captions
    assert f"B · after 4 epochs · D's mean score on these: {mean_score(LESSONS / 'd_too_fast', 4)}" in captions
    # Both runs' curves overlaid, each the run's own epoch means.
    losses, verdicts = chart(at, "compare.chart.losses"), chart(at, "compare.chart.verdicts")
    assert set(losses) == {"a.d_loss", "a.g_loss", "b.d_loss", "b.g_loss"}
    assert set(verdicts) == {"a.d_x", "a.d_g_z", "b.d_x", "b.d_g_z"}
    for side, name in (("a", "quick"), ("b", "d_too_fast")):
        history = LESSONS / name / "history.csv"
        assert np.allclose(array(losses[f"{side}.g_loss"]["y"]), csv_column(history, "mean_g_loss"), rtol=1e-6)
        assert np.allclose(array(verdicts[f"{side}.d_g_z"]["y"]), csv_column(history, "mean_d_g_z"), rtol=1e-6)
        assert np.array_equal(array(losses[f"{side}.d_loss"]["x"]), csv_column(history, "epoch") + 1)
    assert losses["b.g_loss"]["line"]["dash"] == "dash" and losses["a.g_loss"]["line"]["dash"] == "solid"

    at.select_slider(key="compare.epoch").set_value(9).run()
    at.selectbox(key="compare.b").set_value("lesson:minimax").run()
    assert dict(at.query_params) == {"a": "lesson:quick", "b": "lesson:minimax", "epoch": "9"}
    assert f"B · after 9 epochs · D's mean score on these: {mean_score(LESSONS / 'minimax', 9)}" in texts(at, "caption")


def test_without_two_runs_the_page_says_how_to_get_them(own_runs):
    at = open_compare()
    assert "**Comparing needs two runs with at least one finished epoch;** this server has 0." in texts(at, "info")
    assert "compare.a" not in [s.key for s in at.get("selectbox")]
    fake_run(own_runs, "only", range(2))
    at.run()
    assert "this server has 1." in texts(at, "info")


def test_a_runs_title_names_it_and_runs_without_a_common_epoch_show_their_latest(own_runs):
    fake_run(own_runs, "early", range(0, 2), title="Monday")
    os.utime(own_runs / "early" / "status.json", (1, 1))   # the older of the two
    fake_run(own_runs, "late", range(4, 6), title="Monday")
    at = open_compare(a="run:early", b="run:late", epoch=2)
    assert at.selectbox(key="compare.a").options == ["Monday · late", "Monday · early"]   # newest first
    warning = texts(at, "warning")
    assert "no epoch with samples in common (A: 1–2; B: 5–6)" in warning
    assert not at.get("select_slider") and "epoch" not in at.query_params
    captions = texts(at, "caption")
    assert "A · latest, step 200 · D's mean score on these: 0.01" in captions
    assert "B · latest, step 600 · D's mean score on these: 0.05" in captions


def test_a_run_deleted_meanwhile_or_missing_from_a_link_is_said_in_one_line(own_runs):
    for name in ("one", "two", "three"):
        fake_run(own_runs, name, range(3))
    at = open_compare(a="run:one", b="run:two", epoch=2)
    assert at.select_slider(key="compare.epoch").value == 2
    shutil.rmtree(own_runs / "two")
    at.run()
    warnings = [shown(w.value) for w in at.get("warning")]
    assert len(warnings) == 1 and "run:two" in warnings[0] and "\n" not in warnings[0]
    assert at.selectbox(key="compare.b").value in ("run:three",) and at.query_params["b"] == "run:three"
    gone = open_compare(a="run:nosuch", b="run:three")
    assert "run:nosuch" in texts(gone, "warning")
    assert gone.selectbox(key="compare.a").value != "run:nosuch" and not gone.exception


@pytest.mark.slow
def test_a_shared_comparison_opens_in_a_browser_and_survives_a_visit_to_another_page(clean, tmp_path):
    from helpers import chromium, open_app, streamlit_server, wait_idle

    env = {"GAN_EXPLORER_RUNS": str(clean / "runs")}
    with streamlit_server(env, tmp_path / "server.log") as url, chromium(1024, 768) as page:
        open_app(page, f"{url}/compare?a=lesson:minimax&b=lesson:quick&epoch=6")
        boxes = page.locator("[data-testid=stMain] [data-testid=stSelectbox] input")
        assert [boxes.nth(i).input_value() for i in range(2)] == ["G's loss: minimax", "The book's recipe, for comparison"]
        page.get_by_text("B · after 6 epochs").wait_for(timeout=30_000)
        # Another page and back: Streamlit clears the URL's parameters on the way; the page writes them back.
        page.locator("[data-testid=stSidebarNav] a", has_text="Quality").click()
        page.wait_for_url("**/quality**", timeout=30_000)
        page.locator("[data-testid=stSidebarNav] a", has_text="Compare").click()
        page.wait_for_url("**/compare?**epoch=6**", timeout=30_000)
        wait_idle(page)
        assert "a=lesson%3Aminimax" in page.url and "b=lesson%3Aquick" in page.url
        page.get_by_text("A · after 6 epochs").wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "compare.png"))   # for a person to look at
