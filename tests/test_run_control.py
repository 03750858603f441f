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
        manager._procs["r1"] = proc
        assert manager.training_count() == 1
        RunFolder(runs / "r1").write_status("finished", epoch=4, epochs=4, step=2400)
        assert manager.training_count() == 0
    finally:
        proc.kill()
        proc.wait()
        manager._procs.clear()
        manager.shutdown()
