"""The Streamlit app, page by page, in-process with AppTest.

Training runs are real `gan_core.train` children, on a 3,000-image slice of
Fashion-MNIST (GAN_EXPLORER_DATA) so that an epoch is 30 steps; the models the
Latent and Interpolate pages explore are untrained ones written by a fixture.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import helpers  # noqa: E402
from explorer import run_manager as runner  # noqa: E402
from explorer.run_manager import RunManager, RunSettings, resolve_run  # noqa: E402
from gan_core import GANConfig, RunFolder, StepEvent, build_generator, z_from_seed  # noqa: E402
from helpers import app, array, chart, image_captions, image_urls, shown, texts  # noqa: E402

POLL_TIMEOUT_S = 90    # generous: this machine's two cores are shared with the training child


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory) -> Path:
    return helpers.untrained_checkpoint(tmp_path_factory.mktemp("ck"))


@pytest.fixture
def folders(tmp_path, monkeypatch, small_data_dir):
    """Empty runs and checkpoints folders, a small data set, and no state left from other tests."""
    runs, ckpts = tmp_path / "runs", tmp_path / "checkpoints"
    ckpts.mkdir()
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(runs))
    monkeypatch.setenv("GAN_EXPLORER_CHECKPOINTS", str(ckpts))
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    monkeypatch.setenv("GAN_EXPLORER_MAX_RUNS", "1")
    monkeypatch.delenv("GAN_EXPLORER_DEVICE", raising=False)
    st.cache_resource.clear()   # the run manager and loaded models are per-process resources
    threads = torch.get_num_threads()
    yield runs, ckpts
    runner.shutdown_all()
    st.cache_resource.clear()
    torch.set_num_threads(threads)  # app.py sets 1 for its process, which here is pytest's


@pytest.fixture
def with_model(folders, untrained_checkpoint):
    (folders[1] / "untrained.pt").write_bytes(untrained_checkpoint.read_bytes())
    return folders


def poll(at: AppTest, done, what: str, timeout: float = POLL_TIMEOUT_S) -> None:
    helpers.rerun_until(at, done, what, timeout, explain=lambda: f"the runs: {run_report()}")


def run_report() -> str:
    """Status, last event and log tail of every run in the runs folder, for failure messages."""
    out = []
    for path in sorted(Path(os.environ.get("GAN_EXPLORER_RUNS", "/nonexistent")).glob("*")):
        run = RunFolder(path)
        events, _ = run.read_events()
        log = path / runner.LOG_FILE
        out.append(f"{path.name}: {run.read_status().get('state')} last={events[-1] if events else None} "
                   f"log={log.read_text()[-300:] if log.exists() else ''!r}")
    return "; ".join(out) or "none"


def run_state(runs: Path, run_id: str) -> str:
    return RunFolder(runs / run_id).read_status().get("state", "")


def last_step(runs: Path, run_id: str) -> int:
    """The last step logged to events.jsonl (status.json's step is written less often)."""
    events, _ = RunFolder(runs / run_id).read_events()
    return max((e.step for e in events if isinstance(e, StepEvent)), default=0)


# ---- a fresh install ------------------------------------------------------------------------

def test_fresh_install_opens_on_a_prompt_to_train(folders):
    # Other models may share the checkpoints folder (the evaluation classifier): not offered, no error.
    torch.save({"state_dict": {"fc.weight": torch.zeros(10, 4)}}, folders[1] / "classifier.pt")
    at = app()
    assert "No model to explore yet" in texts(at, "info")
    assert "classifier.pt" in texts(at, "caption").replace("\\", "")   # file names are Markdown-escaped (plain)
    assert any(link.proto.page.endswith("train.py") or "train" in link.proto.page for link in at.get("page_link"))
    assert not at.error


# ---- Train ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_train_runs_to_the_end_with_live_charts_samples_and_downloads(folders):
    runs, _ = folders
    at = app("views/train.py")
    at.number_input(key="epochs").set_value(2)
    at.number_input(key="batch").set_value(100)     # 3,000 images: 30 steps an epoch
    at.number_input(key="sample_every").set_value(10)
    at.button(key="train.start").click().run()
    run_id = at.query_params["run"]
    assert RunFolder(runs / run_id).read_status()["config"]["epochs"] == 2

    poll(at, lambda a: "Finished" in texts(a, "success"), "the run to finish")
    assert run_state(runs, run_id) == "finished"

    # Every one of the 60 steps is on the loss chart, smoothed, with one mean per epoch.
    losses = chart(at, "train.chart.losses")
    x = array(losses["d_loss"]["x"])
    assert len(x) == 60 and x[-1] == pytest.approx(2.0)
    assert np.all(np.isfinite(array(losses["g_loss"]["y"])))
    assert np.allclose(array(losses["d_loss.epoch_mean"]["x"]), [1.0, 2.0])
    verdicts = chart(at, "train.chart.verdicts")
    dx = array(verdicts["d_x"]["y"])
    assert len(dx) == 60 and np.all((dx >= 0) & (dx <= 1))

    # Sixteen samples with D's score under each; the look-back slider offers both epochs.
    captions = image_captions(at)
    assert len(captions) == 16 and all(c.startswith("D = ") for c in captions)
    assert at.select_slider(key=f"train.sample_epoch.{run_id}").options == ["1", "2", "now"]
    at.select_slider(key=f"train.sample_epoch.{run_id}").set_value(1).run()
    assert "At step 30" in texts(at, "caption")

    assert {b.key for b in at.get("download_button")} >= {"train.dl.grid", "train.dl.ckpt", "train.dl.csv"}
    assert "epoch [1/2]" in at.get("code")[0].value   # the book's printout, from the child's stdout

    # The finished run is now a model the other pages can explore.
    at.button(key="train.explore").click().run()
    picker = at.selectbox(key="model.source")
    assert picker.value == f"run:{run_id}" and picker.options[0].endswith("· 2 epochs · seed 0 · epoch 2/2 · finished")
    assert "2 epochs" in image_captions(at)[0]

    # The app asked for log-spaced G snapshots, so the Timeline page offers the run, epoch by epoch.
    at.switch_page("views/timeline.py").run()
    assert not at.exception, at.exception
    source = at.selectbox(key="timeline.source")
    assert any(label.endswith(" · 2 epochs · seed 0") for label in source.options)   # by its title, not its id
    source.set_value(f"run:{run_id}").run()
    assert {"1", "2"} <= set(image_captions(at))


@pytest.mark.slow
def test_pause_step_resume_and_stop(folders):
    runs, _ = folders
    at = app("views/train.py")
    at.number_input(key="epochs").set_value(500)   # far longer than the test: it is stopped
    at.button(key="train.start").click().run()
    run_id = at.query_params["run"]
    poll(at, lambda a: last_step(runs, run_id) > 0, "the first steps")

    at.button(key="train.pause").click().run()
    assert at.button(key="train.pause").label == "Resume"
    assert "paused" in at.get("progress")[0].proto.text
    assert not at.button(key="train.step").disabled

    def halted(_) -> bool:
        before = last_step(runs, run_id)
        time.sleep(1.0)
        return last_step(runs, run_id) == before
    # (status.json says "paused" only from the next step event on: a pause that lands between two
    # epochs leaves it at "running", so the test watches the steps themselves.)
    poll(at, halted, "training to halt")

    # gan_core.train writes events at most every 0.25 s and only when a step comes, so the steps
    # done just before a pause appear with the next Step, and a Step within 0.25 s of the last
    # write waits for the one after. Hence the pauses between clicks here.
    steps = last_step(runs, run_id)
    at.button(key="train.step").click().run()
    poll(at, lambda a: last_step(runs, run_id) > steps, "the first step")
    time.sleep(1.0)
    steps = last_step(runs, run_id)
    time.sleep(1.0)
    assert last_step(runs, run_id) == steps, "a paused run went on training after one Step"

    at.button(key="train.step").click().run()
    # The page waits for the step and redraws at once: its samples and progress, no poll needed.
    assert f"At step {steps + 1:,}." in texts(at, "caption"), texts(at, "caption")
    assert f"step {steps + 1:,}/" in at.get("progress")[0].proto.text
    poll(at, lambda a: last_step(runs, run_id) == steps + 1, "one step")
    time.sleep(1.0)
    assert last_step(runs, run_id) == steps + 1, "Step did more than one step"

    at.button(key="train.pause").click().run()   # now labelled Resume
    poll(at, lambda a: last_step(runs, run_id) > steps + 5, "training to resume")

    at.button(key="train.stop").click().run()
    poll(at, lambda a: "Stopped" in texts(a, "info"), "the stop")
    assert run_state(runs, run_id) == "stopped"


@pytest.mark.slow
def test_a_run_killed_mid_epoch_continues_from_its_checkpoint_with_the_continue_button(folders):
    """Issue 5, case 4, in the app: kill -9 of the trainer, then Continue."""
    runs, _ = folders
    epochs = 20   # room to be killed mid-run after two, and little to redo on a machine that is shared
    at = app("views/train.py")
    at.number_input(key="epochs").set_value(epochs)
    at.number_input(key="batch").set_value(100)     # 30 steps an epoch
    at.button(key="train.start").click().run()
    run_id = at.query_params["run"]
    run = RunFolder(runs / run_id)
    poll(at, lambda a: run.read_status().get("epoch", 0) >= 2, "two finished epochs")
    os.kill(int((run.path / runner.OWNER_FILE).read_text()), 9)
    poll(at, lambda a: run_state(runs, run_id) == "failed", "the killed run to be marked failed")
    killed_at = run.read_status()["epoch"]
    assert killed_at < epochs
    at.run()
    assert at.button(key="train.continue").disabled is False

    at.button(key="train.continue").click().run()
    poll(at, lambda a: "Finished" in texts(a, "success"), "the continued run to finish", timeout=3 * POLL_TIMEOUT_S)
    assert run_state(runs, run_id) == "finished"
    status = run.read_status()
    assert status["epoch"] == epochs and status["step"] == epochs * 30
    history = run.history_file.read_text().splitlines()
    assert len(history) == 1 + epochs, "one history row per epoch, none lost or doubled by the kill"
    assert f"resuming from epoch {killed_at}" in (run.path / runner.LOG_FILE).read_text()
    events, _ = run.read_events()
    assert [e.step for e in events if isinstance(e, StepEvent)] == list(range(1, epochs * 30 + 1)), \
        "every step logged once: the resume dropped the steps it redid"


@pytest.mark.slow
def test_runs_beyond_the_cap_wait_in_a_queue_and_can_be_cancelled(folders):
    runs, _ = folders
    at = app("views/train.py")
    at.number_input(key="epochs").set_value(500)
    at.button(key="train.start").click().run()
    first = at.query_params["run"]
    at.button(key="train.start").click().run()
    second = at.query_params["run"]
    assert second != first
    assert "number **1** in the queue" in texts(at, "info")
    assert run_state(runs, second) == "queued"

    at.button(key="train.cancel").click().run()
    assert run_state(runs, second) == "stopped"
    assert not (runs / second / runner.LOG_FILE).exists(), "a cancelled run was started"
    # The first run trains on, and is still the page's when picked again.
    at.selectbox(key="train.run").set_value(first).run()
    assert at.query_params["run"] == first
    poll(at, lambda a: run_state(runs, first) == "running", "the first run to start")


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_run_that_cannot_start_says_why(folders, monkeypatch):
    runs, _ = folders
    monkeypatch.setenv("GAN_EXPLORER_DEVICE", "cuda")
    at = app("views/train.py")
    at.button(key="train.start").click().run()
    run_id = at.query_params["run"]
    poll(at, lambda a: a.get("error"), "the failure to show")
    assert "no usable CUDA GPU" in texts(at, "error")   # gan_core.train's own one-line reason
    assert run_state(runs, run_id) == "failed"


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_start_on_a_runs_folder_that_refuses_writes_says_what_to_do_in_one_line(folders, monkeypatch, request, disk):
    root = request.getfixturevalue("read_only_disk" if disk == "read-only" else "small_disk")
    filler = helpers.fill_disk(root) if disk == "full" else None
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(root))
    at = app("views/train.py")
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    errors = [shown(e.value) for e in at.sidebar.get("error")]
    assert len(errors) == 1 and "\n" not in errors[0] and f"cannot write {root}/" in errors[0], errors
    assert "GAN_EXPLORER_RUNS" in errors[0]
    assert [p for p in root.iterdir() if p != filler] == [], "a run folder was left behind"


@pytest.mark.slow
def test_a_long_paused_run_lends_its_slot_and_on_resume_waits_for_one(folders, monkeypatch):
    """GAN_EXPLORER_PAUSED_SLOT_S: A, paused, lets the queued B train; resumed, A waits until B pauses."""
    runs, _ = folders
    monkeypatch.setenv("GAN_EXPLORER_PAUSED_SLOT_S", "1")
    at = app("views/train.py")
    at.number_input(key="epochs").set_value(500)
    at.button(key="train.start").click().run()
    a = at.query_params["run"]
    poll(at, lambda _: last_step(runs, a) > 0, "A's first steps")
    at.button(key="train.start").click().run()
    b = at.query_params["run"]
    assert "number **1** in the queue" in texts(at, "info")

    at.selectbox(key="train.run").set_value(a).run()
    at.button(key="train.pause").click().run()
    poll(at, lambda _: last_step(runs, b) > 0, "B to train in the slot A lent it")
    assert helpers.training_children(runs / a), "A's trainer was ended: its work since the last epoch is lost"
    steps = last_step(runs, a)
    at.button(key="train.step").click().run()   # a single step needs no slot
    poll(at, lambda _: last_step(runs, a) > steps, "A's single step")   # (with any steps logged late)
    steps = last_step(runs, a)

    at.button(key="train.pause").click().run()   # Resume: B holds the one slot, so A waits for it
    assert "waiting for a free slot: number 1 in the queue" in at.get("progress")[0].proto.text
    time.sleep(2.0)
    assert last_step(runs, a) == steps, "A trained on without a slot"

    at.selectbox(key="train.run").set_value(b).run()
    at.button(key="train.pause").click().run()   # B paused for a second lends its slot back
    poll(at, lambda _: last_step(runs, a) > steps + 5, "A to go on")
    at.selectbox(key="train.run").set_value(a).run()
    assert "waiting" not in at.get("progress")[0].proto.text
    assert at.button(key="train.pause").label == "Pause"


def test_a_bad_setting_in_the_environment_is_one_line_not_a_traceback(folders, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_MAX_RUNS", "many")
    at = AppTest.from_file(str(helpers.APP), default_timeout=60).run()
    assert not at.exception
    assert "GAN_EXPLORER_MAX_RUNS must be a whole number" in texts(at, "error").replace("\\", "")


@pytest.mark.parametrize("bad", ["../../etc", "no such run", "20990101-000000-abcdef"])
def test_a_bad_run_in_the_url_gets_a_friendly_message(folders, bad):
    at = app()
    at.switch_page("views/train.py")
    at.query_params["run"] = bad
    at.run()
    assert not at.exception and not at.error
    assert "Pick a run below" in texts(at, "warning")
    assert "run" not in at.query_params


def test_run_ids_from_outside_resolve_only_inside_the_runs_folder(tmp_path):
    root = tmp_path / "runs"
    for folder in (root / "ok-run", tmp_path / "outside"):
        folder.mkdir(parents=True)
        RunFolder(folder).write_status("finished")
    (root / "link").symlink_to(tmp_path / "outside")
    assert resolve_run(root, "ok-run").path == (root / "ok-run").resolve()
    for bad in ("..", "../outside", "link", "ok-run/", "/etc", "", None, "ok run", "x" * 65):
        assert resolve_run(root, bad) is None, bad


def test_a_restarted_server_lists_old_runs_and_stops_orphans(tmp_path):
    done, orphan = RunFolder(tmp_path / "done"), RunFolder(tmp_path / "orphan")
    for run in (done, orphan):
        run.path.mkdir()
    done.write_status("finished", epoch=3, epochs=3)
    orphan.write_status("running", epoch=1, epochs=3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (orphan.path / runner.OWNER_FILE).write_text(str(dead.pid))   # its trainer is gone
    manager = RunManager(tmp_path)
    try:
        assert {r.name for r in manager.runs()} == {"done", "orphan"}
        assert done.read_status()["state"] == "finished"
        status = orphan.read_status()
        assert status["state"] == "stopped" and status["epoch"] == 1 and "server stopped" in status["message"]
    finally:
        manager.shutdown()


def test_a_run_whose_trainer_died_unseen_is_stopped_and_offers_continue(folders):
    """Its status says running and owner.pid names a live process, but nobody holds the folder's lock."""
    runs, _ = folders
    at = app()   # the server is up before the run is left behind (by a CLI trainer, or another server)
    run = RunFolder(runs / "left-running")
    run.path.mkdir(parents=True)
    run.write_status("running", message="", epoch=1, epochs=3, step=30, steps_per_epoch=30,
                     config=GANConfig(epochs=3).to_dict())
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (run.path / runner.OWNER_FILE).write_text(str(stranger.pid))
        at.switch_page("views/train.py")
        at.query_params["run"] = "left-running"
        at.run()
        assert not at.exception, at.exception
        assert run_state(runs, "left-running") == "stopped"
        assert "ended without saying why" in run.read_status()["message"]
        assert at.button(key="train.continue").label == "Continue"
        assert "Another server process" not in texts(at, "caption")
    finally:
        stranger.kill()
        stranger.wait()


def test_settings_are_validated_before_a_run_is_queued(tmp_path):
    manager = RunManager(tmp_path, max_active=1)
    try:
        with pytest.raises(Exception, match="batch_size"):
            manager.start(RunSettings(batch_size=0))
        with pytest.raises(Exception, match="lr_d"):
            manager.start(RunSettings(lr_d=2.0))
        assert manager.runs() == [] and manager.waiting_count() == 0
    finally:
        manager.shutdown()


def test_a_book_length_run_is_drawn_with_capped_points():
    from explorer import charts
    from explorer.run_curves import Curves
    n, spe = 300_000, 600   # 500 epochs of 600 steps
    steps = np.arange(1, n + 1, dtype=float)
    values = np.column_stack([np.full(n, 1.0), np.linspace(5, 1, n), np.full(n, 0.7), np.full(n, 0.3)])
    snap = Curves(steps, values, np.arange(spe, n + 1, spe, dtype=float), np.ones((500, 5)), None)
    for fig in (charts.loss_figure(snap, spe), charts.verdict_figure(snap, spe)):
        lines = [t for t in fig.data if t.mode == "lines"]
        assert len(lines) == 2 and all(len(t.x) <= charts.MAX_POINTS for t in lines)
        assert all(t.x[-1] == 500.0 for t in lines), "the newest step must be drawn"
    g_loss = next(t for t in charts.loss_figure(snap, spe).data if t.meta == "g_loss")
    assert g_loss.y[-1] == pytest.approx(1.0, abs=0.01) and g_loss.y[0] > 4.9


# ---- Latent space ------------------------------------------------------------------------------

def test_latent_sliders_drive_the_image(with_model):
    """The untrained model's page: direction sliders in front, the raw sliders of z behind an expander.
    (tests/test_latent_page.py covers the page in full, on the book model and a freshly trained run.)"""
    at = app()   # the Latent space page
    assert [s.key for s in at.slider] == [f"latent.a{i}" for i in range(8)]
    assert image_captions(at)[0].startswith("D's verdict: ")
    before = image_urls(at)[0]
    at.slider(key="latent.a0").set_value(2.5).run()
    assert image_urls(at)[0] != before, "moving a direction slider did not change the image"

    at.session_state["latent.raw"] = True   # open the expander of raw sliders
    at.run()
    # First visit: seed 0's z, moved 2.5 along the first direction; the raw sliders show it (rounded, clipped).
    assert np.allclose([at.slider(key=f"latent.z{i}").value for i in range(64)],
                       np.clip(at.session_state["latent.z"], -3, 3), atol=0.006)
    at.slider(key="latent.z5").set_value(2.5).run()
    after = image_urls(at)[0]
    assert after != before and at.session_state["latent.z"][5] == pytest.approx(2.5)
    at.slider(key="latent.z5").set_value(at.slider(key="latent.z5").value).run()
    assert image_urls(at)[0] == after, "the same z gave a different image"

    at.number_input(key="latent.seed").set_value(7).run()
    z7 = z_from_seed(7, 1, 64)[0].clamp(-3, 3).numpy()
    assert np.allclose([at.slider(key=f"latent.z{i}").value for i in range(64)], z7, atol=0.006)
    assert all(at.slider(key=f"latent.a{i}").value == 0 for i in range(8))


def test_uploads_are_validated_and_book_state_dicts_load(with_model):
    at = app()
    at.file_uploader(key="model.file").set_value(("junk.pt", b"not a checkpoint", "application/octet-stream")).run()
    errors = [shown(e.value) for e in at.sidebar.get("error")]
    assert len(errors) == 1 and "junk.pt" in errors[0] and "\n" not in errors[0]

    buf = io.BytesIO()
    torch.save(build_generator(GANConfig()).state_dict(), buf)   # what the book's readers save
    at.file_uploader(key="model.file").set_value(("book-g.pt", buf.getvalue(), "application/octet-stream")).run()
    assert not at.sidebar.get("error")
    assert at.selectbox(key="model.source").value.startswith("upload:")
    assert image_captions(at)[0].startswith("No D in this file")   # a bare state_dict holds only G
    assert len(image_urls(at)) == 1 + 8   # the picture, and a strip along each direction


# ---- Interpolate --------------------------------------------------------------------------------

def test_interpolate_shows_both_walks_with_shared_endpoints(with_model):
    at = app("views/interpolate.py")
    at.slider(key="interp.frames").set_value(7).run()
    frame = at.slider(key="interp.frame")
    assert (frame.min, frame.max, frame.value) == (1, 7, 4)

    def scrubbed() -> tuple[list[str], list[str]]:
        imgs = [img for el in at.get("image") for img in el.proto.imgs if "frame" in img.caption]
        return [i.caption for i in imgs], [i.url for i in imgs]

    captions, urls = scrubbed()
    assert captions[0].startswith("Linear (lerp), frame 4/7") and captions[1].startswith("Spherical (slerp), frame 4/7")
    assert urls[0] != urls[1], "lerp and slerp should part ways between the endpoints"
    for end in (1, 7):   # both walks start at A and end at B: the very same picture
        at.slider(key="interp.frame").set_value(end).run()
        assert len(set(scrubbed()[1])) == 1
    assert {b.key for b in at.get("download_button")} == {
        "interp.dl.gif.lerp", "interp.dl.png.lerp", "interp.dl.gif.slerp", "interp.dl.png.slerp"}

    # Endpoint A from the Latent page's z instead of a seed changes where the walks start.
    at.slider(key="interp.frame").set_value(1).run()
    start = scrubbed()[1]
    at.radio(key="interp.A.src").set_value("latent").run()
    assert scrubbed()[1] != start


def test_plain_keeps_markdown_from_doing_anything():
    from explorer.plain import plain
    evil = "**b** _i_ [l](http://x) ![i](http://x/i.png) <b>h</b> $x^2$ :material/home: `c`\n# h"
    escaped = plain(evil)
    assert "\n" not in escaped and all(f"\\{c}" in escaped for c in "*_[]()!<>$:`#")
    assert escaped.replace("\\", "").replace("\u2060", "") == " ".join(evil.split())   # the same characters shown
    assert plain("x" * 1000, 50) == "x" * 50 + "…"


def test_a_link_with_unusable_settings_says_what_it_replaced(folders):
    """Streamlit resets a bound widget's bad URL value to the default without a word: the page says so."""
    at = AppTest.from_file(str(helpers.APP), default_timeout=60)
    at.query_params.update({"epochs": "1e9", "lr_g": "-1", "batch": "100", "seed": "abc"})
    at.run().switch_page("views/train.py").run()
    assert not at.exception, at.exception
    warning = texts(at, "warning").replace("\\", "")   # the values are Markdown-escaped: they came from a URL
    for said in ("epochs=1e9", "lr_g=-1", "seed=abc"):
        assert said in warning, warning
    assert "batch" not in warning                         # a usable value is not mentioned
    assert at.number_input(key="epochs").value == RunSettings().epochs


def test_a_generator_with_a_very_wide_z_gets_a_capped_set_of_sliders(folders, tmp_path):
    cfg = GANConfig(latent_dim=4096, hidden_dim=16)
    torch.save(build_generator(cfg).state_dict(), folders[1] / "wide.pt")
    started = time.monotonic()
    at = app()
    assert time.monotonic() - started < 20
    sliders = [s for s in at.get("slider") if str(s.key or "").startswith("latent.z")]
    assert len(sliders) == 128   # too wide for directions: the raw sliders are open from the start
    assert "4,096 numbers" in texts(at, "info")
    assert len(image_urls(at)) == 1
