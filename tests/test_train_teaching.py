"""The Train page as a teaching tool: runs shipped ready to show (checkpoints/lessons/), the preset box and
?preset=, and the teaching controls on real training children.

    .venv/bin/pytest tests/test_train_teaching.py -m "not slow"    # shipped runs and presets, AppTest: about a minute
    .venv/bin/pytest tests/test_train_teaching.py -m slow          # training children, a browser
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import streamlit as st
import torch

import helpers
from explorer import run_manager
from explorer.lesson_runs import LESSON_RUNS, lesson_folders
from explorer.run_curves import RunCurves
from explorer.training_form import PRESETS
from gan_core import RunFolder, load_checkpoint
from helpers import ROOT, app, array, chart, image_captions, texts

CHECKPOINTS = ROOT / "checkpoints"
LESSONS_BUDGET_MB = 7     # every shipped run together: "a few MB"


@pytest.fixture
def shipped(tmp_path, monkeypatch, small_data_dir):
    """The app with the shipped checkpoints folder (and its lessons), an empty runs folder, nothing cached."""
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("GAN_EXPLORER_CHECKPOINTS", raising=False)
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    monkeypatch.setenv("GAN_EXPLORER_MAX_RUNS", "1")
    st.cache_resource.clear()
    st.cache_data.clear()
    threads = torch.get_num_threads()
    yield tmp_path
    run_manager.shutdown_all()
    st.cache_resource.clear()
    st.cache_data.clear()
    torch.set_num_threads(threads)   # app.py sets 1 for its process, which here is pytest's


def train_page(**params):
    """The Train page opened by a link with these query parameters."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(helpers.APP), default_timeout=90)
    at.query_params.update(params)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at


# ---- the shipped runs, as files ------------------------------------------------------------------

def test_every_shipped_run_is_its_presets_recipe_complete_and_small():
    found = lesson_folders(CHECKPOINTS)
    assert list(found) == list(LESSON_RUNS), "a described run is missing, or a folder is not described"
    total = 0
    for name, run in found.items():
        about = LESSON_RUNS[name]
        assert about.title and about.shows and about.why and about.preset in PRESETS
        cfg, recording = run.read_settings()
        assert cfg == PRESETS[about.preset].settings.config(), f"{name} was not trained with its preset's recipe"
        status = run.read_status()
        assert status["state"] == "finished" and status["epoch"] == status["epochs"] == cfg.epochs
        assert not run.checkpoint.exists(), "the full checkpoint is not shipped (6.6 MB a run)"

        history = run.history_file.read_text().splitlines()
        assert len(history) == 1 + cfg.epochs
        assert run.sample_epochs() == list(range(cfg.epochs))   # the grid after every epoch
        images, scores, step = run.read_samples(cfg.epochs - 1)
        assert images.shape == (16, 28, 28) and step == cfg.epochs * status["steps_per_epoch"]
        assert np.all((scores >= 0) & (scores <= 1))

        snaps = run.snapshot_epochs()
        assert snaps == [1, cfg.epochs]
        for epoch in snaps:
            ck = load_checkpoint(run.snapshot_path(epoch))
            assert ck.epoch == epoch and ck.discriminator is None and ck.config == cfg
            assert len(ck.history["epoch"]) == epoch   # the Timeline's curves come from the last one

        snap = RunCurves(run).update()
        assert snap.steps[-1] == cfg.epochs * status["steps_per_epoch"] and len(snap.epoch_steps) == cfg.epochs
        assert len(snap.steps) <= cfg.epochs * status["steps_per_epoch"] // 2, "the step log is merged into buckets"
        log = (run.path / run_manager.LOG_FILE).read_text()
        assert f"epoch [{cfg.epochs - 1}/{cfg.epochs}]" in log and "checkpoint=" not in log
        total += sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())
    assert total < LESSONS_BUDGET_MB * 1e6, f"the shipped runs take {total / 1e6:.1f} MB"


def test_the_shipped_runs_show_what_they_say():
    """The numbers the explanations quote, read from the runs' own histories."""
    def means(name: str, key: str) -> np.ndarray:
        return np.array(load_checkpoint(lesson_folders(CHECKPOINTS)[name].snapshot_path(10)).history[key])

    book, fast, high = (means(n, "mean_d_g_z") for n in ("quick", "d_too_fast", "lr_too_high"))
    assert book.min() < 0.03 and book[-1] > 2 * book.min()             # D wins at first, then G claws back
    assert np.all(fast[1:] < 0.03)                                     # D(G(z)) stays near 0.01
    assert means("d_too_fast", "mean_g_loss")[1:].min() > means("quick", "mean_g_loss").max()
    assert np.all(high[1:] < 1e-3)                                     # D(G(z)) at 0, the run dead
    g = means("lr_too_high", "mean_g_loss")
    assert g[-1] == pytest.approx(106, abs=2) and g[-3:].std() < 1e-3  # G's loss frozen
    minimax = means("minimax", "mean_d_g_z")
    assert np.all(minimax[1:] < 0.01) and book[-1] > 5 * minimax[-1]   # G stalls: D(G(z)) at 0 from epoch 2
    assert np.all(np.abs(means("minimax", "mean_g_loss")[1:]) < 0.01)  # and its loss, log(1 - D(G(z))), at 0
    # Every z the same picture, in pure black and white.
    images = lesson_folders(CHECKPOINTS)["lr_too_high"].read_samples(9)[0]
    assert np.isin(images, (0, 255)).mean() > 0.99 and (images == images[0]).mean() > 0.99


# ---- the shipped runs, in the app ----------------------------------------------------------------

def test_a_shipped_run_opens_read_only_with_its_curves_grid_and_look_back(shipped):
    at = train_page(lesson="d_too_fast")
    about = LESSON_RUNS["d_too_fast"]
    assert about.shows in texts(at, "info") and about.why in texts(at, "info")
    assert at.query_params["lesson"] == "d_too_fast" and "run" not in at.query_params
    assert at.get("pills")[0].value == "d_too_fast"
    keys = {b.key for b in at.get("button")}
    assert not keys & {"train.pause", "train.step", "train.stop", "train.continue", "train.cancel"}, keys

    losses = chart(at, "train.chart.losses")
    x = array(losses["d_loss"]["x"])
    assert x[-1] == pytest.approx(10.0) and len(array(losses["d_loss.epoch_mean"]["x"])) == 10
    assert len(image_captions(at)) == 16 and all(c.startswith("D = ") for c in image_captions(at))
    look_back = at.select_slider(key="train.sample_epoch.lesson.d_too_fast")
    assert look_back.options == [str(e) for e in range(1, 11)] + ["now"]
    look_back.set_value(1).run()
    assert "At step 600." in texts(at, "caption")
    assert {b.key for b in at.get("download_button")} == {"train.dl.grid", "train.dl.csv"}
    assert "epoch [9/10]" in at.get("code")[0].value

    # Train it again yourself: the sidebar's form takes the preset.
    at.button(key="train.lesson_preset").click().run()
    assert at.selectbox(key="train.preset").value == "d_too_fast"
    assert at.number_input(key="lr_d").value == pytest.approx(2e-3) and at.number_input(key="epochs").value == 10


def test_the_shipped_runs_are_picked_beside_this_servers_runs(shipped):
    at = train_page()
    pills = at.get("pills")[0]
    assert pills.options == [t.title for t in LESSON_RUNS.values()] and pills.value is None
    at.get("pills")[0].set_value("lr_too_high").run()
    assert at.query_params["lesson"] == "lr_too_high"
    assert at.subheader[0].value == "Learning rate too high"

    # A link to a shipped run this app does not have says so.
    at = train_page(lesson="no_such_run")
    assert "does not have" in texts(at, "warning") and "lesson" not in at.query_params


def test_the_timeline_finds_the_shipped_runs_snapshots(shipped):
    at = app("views/timeline.py")
    source = at.selectbox(key="timeline.source")
    assert source.value == "checkpoints:book-snapshots"   # the book's own snapshots stay first
    assert [o for o in source.options if o.startswith("ready to show: ")] == [
        f"ready to show: {about.title}" for about in LESSON_RUNS.values()], source.options
    source.set_value("lesson:lr_too_high").run()
    assert not at.exception, at.exception
    assert {"1", "10"} <= set(image_captions(at))
    assert len(array(chart(at, "timeline.chart")["d_x"]["x"])) == 10   # the curves, from the last snapshot


# ---- the preset box ------------------------------------------------------------------------------

def test_a_preset_in_the_link_picks_the_box_and_fills_the_rest(shipped):
    at = train_page(preset="lr_too_high")
    assert at.selectbox(key="train.preset").value == "lr_too_high"
    assert PRESETS["lr_too_high"].about in texts(at, "caption")
    assert at.number_input(key="lr_g").value == pytest.approx(5e-3) and at.number_input(key="epochs").value == 10

    at = train_page(preset="lr_too_high", lr_d="0.001")   # the link's own settings win: no preset has them
    assert at.number_input(key="lr_d").value == pytest.approx(1e-3)
    assert at.selectbox(key="train.preset").value == "custom" and "preset" not in at.query_params

    at = train_page(lr_d="0.002", epochs="10")   # a link with a preset's settings names it
    assert at.selectbox(key="train.preset").value == "d_too_fast" and at.query_params["preset"] == "d_too_fast"

    at = train_page(preset="nope")
    assert "preset=nope" in texts(at, "warning").replace("\\", "")
    assert at.selectbox(key="train.preset").value == "quick"   # the defaults are the Quick look


def test_the_preset_box_follows_the_settings(shipped):
    at = train_page()
    box = at.selectbox(key="train.preset")
    assert box.value == "quick" and at.query_params["preset"] == "quick"
    box.set_value("d_too_fast").run()
    assert at.number_input(key="lr_d").value == pytest.approx(2e-3) and at.query_params["preset"] == "d_too_fast"
    at.number_input(key="seed").set_value(3).run()
    assert at.selectbox(key="train.preset").value == "custom" and "preset" not in at.query_params
    assert "No preset has exactly these settings." in texts(at, "caption")
    at.number_input(key="seed").set_value(0).run()
    assert at.selectbox(key="train.preset").value == "d_too_fast"


# ---- Korean ---------------------------------------------------------------------------------------

def test_a_shipped_run_in_korean_shows_no_english(shipped):
    from test_i18n import english_left, file_names, korean, shown_text
    at = korean("views/train.py", **{"train.lesson": "lr_too_high"})
    assert not at.exception, at.exception
    shown = shown_text(at)
    assert any("학습률이 너무 높을 때" in s for s in shown)
    left = {s: words for s in shown if (words := english_left(s, file_names() | set(LESSON_RUNS)))}
    assert not left, "English on a Korean page:\n" + "\n".join(f"  {w}: {s[:160]!r}" for s, w in left.items())


# ---- a real browser -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(240)
def test_the_korean_train_page_in_a_real_browser(tmp_path, small_data_dir):
    """/train?lang=ko in headless Chromium at 1024x768: the Korean form, a shipped run opened from its pill,
    its grid and charts; no horizontal scrolling."""
    env = {"GAN_EXPLORER_RUNS": str(tmp_path / "runs"), "GAN_EXPLORER_DATA": str(small_data_dir)}
    with helpers.streamlit_server(env, tmp_path / "server.log") as url, helpers.chromium(1024, 768) as page:
        helpers.open_app(page, f"{url}/train?lang=ko")
        page.get_by_role("heading", name="책의 GAN 학습하기").wait_for(timeout=60_000)
        page.get_by_role("heading", name="새 학습").wait_for(timeout=60_000)
        assert page.get_by_text("Start training").count() == 0
        page.get_by_role("button", name="학습 시작").wait_for(timeout=60_000)

        page.get_by_role("radio", name="학습률이 너무 높을 때").click()   # a pill
        page.wait_for_url(re.compile(r"/train\?.*lesson=lr_too_high"), timeout=60_000)
        page.get_by_role("heading", name="학습률이 너무 높을 때").wait_for(timeout=60_000)
        helpers.wait_idle(page)
        main = page.locator("[data-testid=stMain]")
        main.locator("[data-testid=stImage] img").nth(15).wait_for(timeout=60_000)
        main.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)   # Plotly draws after the images
        assert main.locator(".js-plotly-plot").count() == 2
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollWidth") <= 1024
        page.screenshot(path=str(tmp_path / "train-ko.png"))
        assert (tmp_path / "train-ko.png").stat().st_size > 20_000


# ---- the teaching controls -------------------------------------------------------------------------

@pytest.mark.slow   # Start launches a training process
def test_k_g_loss_and_a_frozen_network_reach_the_runs_settings(shipped):
    at = train_page(preset="minimax")
    assert at.radio(key="train.g_loss").value == "minimax" and at.query_params["g_loss"] == "minimax"
    assert "log(1 - D(G(z)))" in PRESETS["minimax"].about
    at.number_input(key="d_steps").set_value(3).run()
    assert at.selectbox(key="train.preset").value == "custom"
    at.number_input(key="lr_g").set_value(0.0).run()
    assert "G is frozen on purpose" in texts(at, "info")   # said before the run starts
    at.button(key="train.start").click().run()
    run = RunFolder(shipped / "runs" / at.query_params["run"])
    cfg, _ = run.read_settings()
    assert (cfg.d_steps, cfg.g_loss, cfg.lr_g, cfg.epochs) == (3, "minimax", 0.0, 10)
    assert "G is frozen on purpose" in texts(at, "info")   # and on the run's page
    assert "k = 3 D updates per G update" in texts(at, "markdown") and "Minimax" in texts(at, "markdown")

    at.radio(key="train.g_loss").set_value("book").run()
    assert "g_loss" not in at.query_params   # the book's loss is the default: the URL does not say it


def last_step(run: RunFolder) -> int:
    return int(run.read_status().get("step", 0))


def halted(run: RunFolder):
    def check(_) -> bool:
        before = run.read_status().get("step")
        time.sleep(1.0)
        return run.read_status().get("state") == "paused" and run.read_status().get("step") == before
    return check


def start_paused(at, run_root, **settings) -> RunFolder:
    """Start a run with these form settings and pause it after its first steps."""
    for key, value in {"epochs": 500, **settings}.items():
        at.number_input(key=key).set_value(value).run()
    at.button(key="train.start").click().run()
    run = RunFolder(run_root / at.query_params["run"])
    helpers.rerun_until(at, lambda a: last_step(run) > 0, "the first steps", 90)
    assert not {b.key for b in at.get("button")} & STEP_KEYS, "single updates are offered only while paused"
    at.button(key="train.pause").click().run()
    helpers.rerun_until(at, halted(run), "training to halt", 90)
    at.run()
    return run


STEP_KEYS = {"train.step_d", "train.step_g", "train.step"}


def single(at, key: str) -> dict:
    """Press one of the single-update buttons; returns what the page shows it changed."""
    last = at.session_state["train.change"].update if "train.change" in at.session_state else None
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    helpers.rerun_until(at, lambda a: "train.change" in a.session_state and a.session_state["train.change"].update
                        != last, f"what {key} changed", 60)
    change = at.session_state["train.change"]
    assert "What that update changed" in [h.value for h in at.subheader]
    shown = {m.label: float(m.value) for m in at.get("metric")}
    assert list(shown) == ["d_loss", "g_loss", "D(x)", "D(G(z))"]
    assert list(shown.values()) == pytest.approx(change.update["after"], abs=1e-4)
    before, after = (dict(zip(("d_loss", "g_loss", "d_x", "d_g_z"), change.update[k])) for k in ("before", "after"))
    return {"half": change.update.get("half", "both"), "before": before, "after": after,
            "images": (change.before[0], change.after[0]), "scores": (change.before[1], change.after[1])}


@pytest.mark.slow
def test_step_d_step_g_and_step_both_each_change_what_they_should(shipped):
    at = app("views/train.py")
    run = start_paused(at, shipped / "runs", sample_every=0)
    assert STEP_KEYS <= {b.key for b in at.get("button")}
    step = last_step(run)

    d = single(at, "train.step_d")
    assert d["half"] == "d" and last_step(run) == step, "D's update alone ends no step"
    assert np.array_equal(*d["images"]), "G did not change, so the same z draws the same pictures"
    assert not np.array_equal(*d["scores"]), "D changed, so its scores on them moved"
    assert d["after"]["d_loss"] < d["before"]["d_loss"]   # D's update lowers D's loss on its batch
    # (One small Adam step lowers the sum of D's two losses; it need not move both of D's scores its way.)

    g = single(at, "train.step_g")
    assert g["half"] == "g" and last_step(run) == step + 1
    assert not np.array_equal(*g["images"]), "G changed, so its pictures did"
    assert g["after"]["g_loss"] < g["before"]["g_loss"]   # G's update lowers G's loss on its z
    assert g["after"]["d_x"] == pytest.approx(g["before"]["d_x"]), "D did not change: its score on real images"

    both = single(at, "train.step")
    assert both["half"] == "both" and last_step(run) == step + 2
    assert not np.array_equal(*both["images"])
    assert f"At step {step + 2:,}." in texts(at, "caption")   # the samples, redrawn at once

    at.button(key="train.pause").click().run()   # Resume: the single updates and what they changed go away
    assert not {b.key for b in at.get("button")} & {"train.step_d", "train.step_g"}
    assert "What that update changed" not in [h.value for h in at.subheader]
    helpers.rerun_until(at, lambda a: last_step(run) > step + 5, "training to go on", 90)
    at.button(key="train.stop").click().run()


@pytest.mark.slow
def test_a_learning_rate_of_0_freezes_that_network(shipped):
    at = app("views/train.py")
    at.number_input(key="lr_g").set_value(0.0).run()
    assert "G is frozen on purpose" in texts(at, "info")
    run = start_paused(at, shipped / "runs", sample_every=0)
    first = run.read_samples(None)[0]
    for key in ("train.step_g", "train.step", "train.step_d"):
        change = single(at, key)
        assert np.array_equal(*change["images"]) and np.array_equal(change["images"][1], first), \
            f"{key}: a frozen G drew different pictures"
    assert not np.array_equal(*change["scores"]), "D still learns"
    assert "G is frozen on purpose" in texts(at, "caption")   # said beside what the update changed
    at.button(key="train.stop").click().run()


# ---- the architecture ----------------------------------------------------------------------------

def test_a_link_picks_the_dcgan_and_a_wrong_architecture_is_named(shipped):
    at = train_page(arch="dcgan")
    assert at.radio(key="train.arch").value == "dcgan" and at.query_params["arch"] == "dcgan"
    assert at.selectbox(key="train.preset").value == "custom"      # no preset is a DCGAN
    at.radio(key="train.arch").set_value("mlp").run()
    assert "arch" not in at.query_params                           # the book's MLP is the default: not said
    assert at.selectbox(key="train.preset").value == "quick"
    at = train_page(arch="resnet")
    assert at.radio(key="train.arch").value == "mlp"
    assert "arch=resnet (it must be one of mlp, dcgan)" in texts(at, "warning").replace("\\", "")


def test_the_app_trains_a_dcgan_with_its_papers_recipe_and_names_it():
    from explorer.run_manager import RunSettings
    cfg = RunSettings(arch="dcgan").config()
    assert (cfg.arch, cfg.beta1, cfg.lr_g, cfg.batch_size) == ("dcgan", 0.5, 2e-4, 100)
    assert RunSettings().config().beta1 == 0.9


@pytest.mark.slow   # Start launches a training process
def test_start_with_the_dcgan_writes_it_into_the_runs_settings(shipped):
    at = train_page(arch="dcgan", epochs="1")
    at.button(key="train.start").click().run()
    run = RunFolder(shipped / "runs" / at.query_params["run"])
    cfg, _ = run.read_settings()
    assert (cfg.arch, cfg.beta1, cfg.epochs) == ("dcgan", 0.5, 1)
    from explorer.run_names import run_title
    assert run_title(run) == "DCGAN (convolutional) · 1 epoch · seed 0"
    assert "DCGAN (convolutional)" in texts(at, "markdown") + texts(at, "caption")
