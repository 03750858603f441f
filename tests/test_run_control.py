"""Run control on the Train page (AppTest, no training): Continue keeps the run shown, the controls a run's state
allows, who may control a run (its owner's browser, the teacher), titles and Delete.

Runs here are folders written as a trainer leaves them (status, settings, a checkpoint file); a Continue queues
a real child, which fails at once on the fake checkpoint, after the page has been checked.

    .venv/bin/pytest tests/test_run_control.py -m "not slow"
"""
from __future__ import annotations

import json

import pytest

import helpers
from explorer import run_manager
from explorer.run_backends import LocalProcess
from explorer.run_manager import CONTROLLER_FILE, RunManager, owner_hash
from gan_core import GANConfig, Recording, RunFolder
from helpers import texts

OWNER = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def fake_run(root, run_id: str, state: str = "stopped", epoch: int = 1, epochs: int = 4, owner: str | None = OWNER,
             checkpoint: bool = True, message: str | None = None) -> RunFolder:
    """A run folder as a trainer leaves it after `epoch` epochs, 600 steps each."""
    run = RunFolder(root / run_id)
    run.path.mkdir(parents=True)
    cfg = GANConfig(epochs=epochs)
    run.write_settings(cfg, Recording())
    step = epoch * 600
    run.write_status(state, message=f"stopped at epoch {epoch}, step {step}" if message is None else message,
                     epoch=epoch, epochs=epochs, step=step, steps_per_epoch=600, config=cfg.to_dict())
    if checkpoint:
        run.checkpoint.write_bytes(b"not a checkpoint")
    if owner:
        (run.path / CONTROLLER_FILE).write_text(json.dumps({"owner": owner_hash(owner)}))
    return run


@pytest.fixture
def runs(clean, monkeypatch):
    monkeypatch.delenv("GAN_EXPLORER_TEACHER_TOKEN", raising=False)
    root = clean / "runs"
    root.mkdir()
    return root


def train_page(key: str | None = OWNER, **params):
    """The Train page opened by a link, in a browser whose owner key is `key`."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(helpers.APP), default_timeout=60)
    if key:
        at.session_state["owner.key"] = key
    at.query_params.update(params)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at


def keys(at) -> set[str]:
    return {w.key for w in at.button} | {w.key for w in at.text_input}


# ---- defect 1: Continue keeps the run ------------------------------------------------------------

@pytest.mark.slow   # Continue starts a trainer
def test_continue_after_a_reload_keeps_the_run_in_the_picker_and_the_url(runs):
    """A reload opens the run from ?run= (a new session); Continue changes its label (stopped -> training), and
    the picker used to fall back to "Choose a run" on that very click, taking ?run= out of the URL."""
    run = fake_run(runs, "r1")
    at = train_page(run="r1")
    assert at.selectbox(key="train.run").value == "r1"
    at.button(key="train.continue").click().run()
    assert not at.exception, at.exception
    assert run.read_status()["state"] in ("queued", "running", "failed")   # Continue was taken
    assert at.selectbox(key="train.run").value == "r1"
    assert at.query_params["run"] == "r1"
    at.run()   # the next poll or click: the browser sends back the label it showed before Continue
    assert at.selectbox(key="train.run").value == "r1" and at.query_params["run"] == "r1"


# ---- defect 3: the controls and what the page says --------------------------------------------------

@pytest.mark.parametrize("state", ["finished", "diverged"])
def test_a_run_that_has_ended_shows_no_pause_step_or_stop(runs, state):
    fake_run(runs, "r1", state=state, epoch=4, message="")
    at = train_page(run="r1")
    assert not keys(at) & {"train.pause", "train.stop", "train.step", "train.step_d", "train.continue"}, keys(at)


def test_a_stop_someone_asked_for_is_said_once(runs):
    fake_run(runs, "r1", epoch=1, epochs=5)
    said = texts(train_page(run="r1"), "info")
    assert "Stopped after 1 of 5 epochs." in said and "stopped at epoch" not in said, said


def test_a_stop_with_a_reason_still_says_it(runs):
    fake_run(runs, "r1", message="disk budget reached")
    assert "disk budget reached" in texts(train_page(run="r1"), "info")


def test_the_sidebar_stops_counting_a_run_once_it_has_written_its_final_state(runs):
    """Its process may live on a moment after it wrote "finished"; the page redraws at once and must not count it."""
    import subprocess
    import sys
    manager = RunManager(runs)
    fake_run(runs, "r1", state="running")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdin=subprocess.PIPE)
    try:
        manager._procs["r1"] = LocalProcess(proc)
        assert manager.training_count() == 1
        RunFolder(runs / "r1").write_status("finished", epoch=4, epochs=4, step=2400)
        assert manager.training_count() == 0
    finally:
        proc.kill()
        proc.wait()
        manager._procs.clear()
        manager.shutdown()


# ---- defect 3: speed right after a Resume -----------------------------------------------------------

def test_the_speed_right_after_a_pause_is_measured_over_running_time_only(tmp_path, monkeypatch):
    """100 steps a second before and after a 5 s pause: the rate read just after Resume is 100; measured over
    the last 10 s, pause included, it read about half that."""
    from explorer import run_curves
    from gan_core.step_log import StepLog
    from gan_core.trainer import StepEvent

    clock = [1000.0]
    monkeypatch.setattr(run_curves.time, "monotonic", lambda: clock[0])
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    log, curves, step = StepLog(run.events_file), run_curves.RunCurves(run), 0

    def train(seconds: float) -> float | None:
        nonlocal step
        for _ in range(int(seconds / 0.25)):   # the trainer flushes its log every 0.25 s
            for _ in range(25):
                step += 1
                log.add(StepEvent(epoch=0, step=step, d_loss=1.0, g_loss=1.0, d_x=0.5, d_g_z=0.5))
            log.flush()
            clock[0] += 0.25
            rate = curves.update().steps_per_sec
        return rate

    assert train(5) == pytest.approx(100, rel=0.06)
    clock[0] += 5                      # paused: no steps
    assert train(1.5) == pytest.approx(100, rel=0.2)


# ---- item 2: the form says what is wrong and Start waits ---------------------------------------------

@pytest.mark.parametrize("key, value, said", [("epochs", 0, "It must be from 1 to 100,000."),
                                              ("batch", 70000, "the number of training images"),
                                              ("lr_g", -0.001, "0 freezes the network on purpose"),
                                              ("lr_d", 2.0, "0 freezes the network on purpose")])
def test_a_value_the_form_cannot_use_is_said_and_start_is_disabled(runs, key, value, said):
    at = train_page()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert at.number_input(key=key).value == value      # the box shows what was typed
    assert said in texts(at, "error")
    assert at.button(key="train.start").disabled
    assert not list(runs.iterdir())


def test_a_learning_rate_of_0_is_allowed_and_said_to_freeze(runs):
    at = train_page()
    at.number_input(key="lr_g").set_value(0.0).run()
    assert not texts(at, "error") and not at.button(key="train.start").disabled
    assert "G is frozen on purpose" in texts(at, "info")


# ---- item 5: who may control a run ---------------------------------------------------------------

CONTROLS = {"train.continue", "train.delete", "train.title.r1"}


def test_another_browser_watches_a_run_it_did_not_start(runs):
    fake_run(runs, "r1", owner=OTHER)
    at = train_page(run="r1")
    assert not keys(at) & CONTROLS, keys(at)
    assert "You are watching this run" in texts(at, "caption")


def test_the_browser_that_started_a_run_controls_it(runs):
    fake_run(runs, "r1", owner=OWNER)
    at = train_page(run="r1")
    assert CONTROLS <= keys(at), keys(at)


@pytest.mark.slow   # Start launches a trainer
def test_a_run_started_in_this_session_is_owned_by_its_key(runs, small_data_dir, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    at = train_page(epochs=1)
    at.button(key="train.start").click().run()
    run_id = at.session_state["train.run"]
    assert json.loads((runs / run_id / CONTROLLER_FILE).read_text()) == {"owner": owner_hash(OWNER)}


@pytest.mark.parametrize("token, teacher", [("the-teachers-token", True), ("a-guess", False)])
def test_a_teacher_token_controls_every_run_and_leaves_the_url(runs, monkeypatch, token, teacher):
    monkeypatch.setenv("GAN_EXPLORER_TEACHER_TOKEN", "the-teachers-token")
    fake_run(runs, "r1", owner=OTHER)
    at = train_page(key=OWNER, run="r1", token=token)
    assert "token" not in at.query_params
    assert (CONTROLS <= keys(at)) is teacher, keys(at)


@pytest.mark.parametrize("configured", [True, False])
def test_a_run_without_a_recorded_owner_is_the_teachers_when_there_is_one(runs, monkeypatch, configured):
    if configured:
        monkeypatch.setenv("GAN_EXPLORER_TEACHER_TOKEN", "the-teachers-token")
    fake_run(runs, "r1", owner=None)
    at = train_page(run="r1")
    assert (CONTROLS <= keys(at)) is not configured, keys(at)


def test_shipped_runs_stay_read_only_for_the_teacher(runs, monkeypatch):
    monkeypatch.setenv("GAN_EXPLORER_TEACHER_TOKEN", "the-teachers-token")
    at = train_page(lesson="book", token="the-teachers-token")
    assert not {k for k in keys(at) if k and (k.startswith("train.title") or k in (
        "train.delete", "train.pause", "train.stop", "train.continue"))}


# ---- item 4: titles and Delete ---------------------------------------------------------------------

def test_a_title_given_on_the_page_names_the_run_in_the_picker(runs):
    run = fake_run(runs, "r1")
    at = train_page(run="r1")
    at.text_input(key="train.title.r1").set_value("Week 3: D too fast").run()
    assert run.read_title() == "Week 3: D too fast"
    picker = at.selectbox(key="train.run")
    assert picker.value == "r1" and picker.format_func("r1").startswith("Week 3: D too fast")


def test_a_title_that_cannot_be_used_is_said_in_one_line(runs):
    run = fake_run(runs, "r1")
    at = train_page(run="r1")
    at.text_input(key="train.title.r1").set_value("bell\x07").run()
    said = texts(at, "error")
    assert "This title cannot be used" in said and "printable" in said and "\n" not in said
    assert run.read_title() is None


def test_delete_removes_the_run_and_a_link_to_it_then_says_so(runs):
    fake_run(runs, "r1")
    at = train_page(run="r1")
    at.button(key="train.delete").click().run()
    assert not at.exception, at.exception
    assert not (runs / "r1").exists()
    assert at.selectbox(key="train.run").value is None and "run" not in at.query_params
    assert "was deleted" in texts(at, "alert") or "was deleted" in " ".join(e.value for e in at.success)
    later = train_page(key=OTHER, run="r1")
    assert "Run “r1” was deleted." in " ".join(e.value for e in later.info)


def test_delete_never_leaves_the_runs_folder(runs, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "status.json").write_text("{}")
    (runs / "link").symlink_to(outside)
    manager = RunManager(runs)
    try:
        for bad in ("link", "..", "../precious", "no-such-run", "/etc"):
            with pytest.raises(run_manager.DeleteRefused):
                manager.delete(bad)
        assert (outside / "status.json").is_file()
        inner = fake_run(runs, "r2")
        (inner.path / "escape").symlink_to(outside)   # a link inside a run: removed, its target kept
        manager.delete("r2")
        assert not inner.path.exists() and (outside / "status.json").is_file()
        assert manager.was_deleted("r2") and not manager.was_deleted("r1")
    finally:
        manager.shutdown()


# ---- item 6: a lone run gets the whole machine ---------------------------------------------------

def test_a_run_training_alone_is_told_to_use_every_core_and_shares_them_when_another_trains(runs, tmp_path):
    """Children here are `cat`s writing what they are told into a file, standing for trainers' stdin."""
    import subprocess
    manager = RunManager(runs, max_active=2, threads=1, lone_threads=8)
    told = {r: tmp_path / f"{r}.stdin" for r in ("a", "b")}
    procs = {r: subprocess.Popen(["sh", "-c", f"cat > {told[r]}"], stdin=subprocess.PIPE) for r in told}
    try:
        with manager._lock:
            manager._procs["a"] = LocalProcess(procs["a"])
            manager._share_threads()
            manager._procs["b"] = LocalProcess(procs["b"])
            manager._share_threads()
            del manager._procs["b"]
            manager._share_threads()
        for p in procs.values():
            p.stdin.close()
            p.wait(10)
        assert told["a"].read_text().split("\n") == ["threads 8", "threads 1", "threads 8", ""]
        assert told["b"].read_text() == "threads 1\n"
    finally:
        for p in procs.values():
            p.kill()
        manager._procs.clear()
        manager.shutdown()


def test_the_trainer_takes_a_threads_line_and_goes_on_obeying_the_others(monkeypatch):
    import io
    import sys
    from gan_core.cli.train import listen
    from gan_core.trainer import TrainControl
    monkeypatch.setattr(sys, "stdin", io.StringIO("threads 3\npause\nthreads x\n"))
    control, asked = TrainControl(), []
    listen(control, lambda: None, asked.append)
    assert asked == [3] and control.paused and control.wait_turn() is None   # paused, then stopped at EOF


@pytest.mark.slow
def test_a_real_trainer_told_threads_2_starts_a_second_compute_thread(tmp_path, small_data_dir):
    """The OS's count of the trainer's threads grows by the OpenMP worker that "threads 2" asks for."""
    import os
    import subprocess
    import sys
    import time
    from helpers import ROOT, wait_until
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "GAN_EXPLORER_DATA": str(small_data_dir)}
    p = subprocess.Popen([sys.executable, "-m", "gan_core.train", "--out", str(out), "--epochs", "500", "--threads", "1",
                          "--control", "stdin", "--quiet", "--device", "cpu"], stdin=subprocess.PIPE, env=env, cwd=ROOT,
                         stdout=subprocess.DEVNULL)

    def threads() -> int:
        return int(next(line for line in open(f"/proc/{p.pid}/status") if line.startswith("Threads:")).split()[1])
    try:
        wait_until(lambda: RunFolder(out).read_status().get("step", 0) > 30, "training", 180)
        before = threads()
        time.sleep(1)
        assert threads() == before   # steady while it trains on one thread
        p.stdin.write(b"threads 2\n")
        p.stdin.flush()
        wait_until(lambda: threads() > before, "a second compute thread", 30)
    finally:
        p.stdin.close()
        p.wait(60)
