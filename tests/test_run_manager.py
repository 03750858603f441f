"""The run manager on its own (no Streamlit): disks that refuse writes, faults while a queued run starts,
and runs whose recorded owner is gone.

Training children are real `gan_core.train` processes on the 3,000-image slice of Fashion-MNIST (an epoch
is 30 steps); full and read-only disks are real tmpfs mounts, and those tests skip where mounting is not
allowed.
"""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys

import pytest

from explorer import run_manager as runner
from explorer.run_manager import LOG_FILE, RunManager, RunSettings, RunsFolderError
from gan_core import ACTIVE_STATES, RunFolder
from helpers import fill_disk, training_children, wait_until

RUN_TIMEOUT_S = 180   # two shared cores, and children at idle priority: a one-epoch run can wait long for CPU


@pytest.fixture
def data(monkeypatch, small_data_dir):
    """Children find the small data set through the environment; no manager outlives the test."""
    monkeypatch.setenv("GAN_EXPLORER_DATA", str(small_data_dir))
    yield small_data_dir
    runner.shutdown_all()


def state(root, run_id: str) -> str:
    return RunFolder(root / run_id).read_status().get("state", "")


def message(root, run_id: str) -> str:
    return RunFolder(root / run_id).read_status().get("message", "")


def ended(root, run_id: str) -> bool:
    return state(root, run_id) not in ("", *ACTIVE_STATES)


# ---- disk trouble ----------------------------------------------------------------------------

@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_start_on_a_disk_that_refuses_writes_is_one_line_and_leaves_no_run(disk, request):
    root = request.getfixturevalue("read_only_disk" if disk == "read-only" else "small_disk")
    filler = fill_disk(root) if disk == "full" else None
    manager = RunManager(root, max_active=1)
    try:
        with pytest.raises(RunsFolderError) as e:
            manager.start(RunSettings(epochs=1))
        said = str(e.value)
        assert "\n" not in said and f"cannot write {root}/" in said and "GAN_EXPLORER_RUNS" in said, said
        assert ("read-only file system" if disk == "read-only" else "no space left on device") in said, said
        assert [p for p in root.iterdir() if p != filler] == [], "the half-made run folder was left behind"
        assert manager.training_count() == manager.waiting_count() == 0
    finally:
        manager.shutdown()


@pytest.mark.slow
def test_a_run_that_dies_on_a_full_disk_says_why_and_the_queue_goes_on(small_disk, data):
    """Its log is empty (writing it failed too) and so is the disk: the reason comes from the disk."""
    manager = RunManager(small_disk, max_active=1)
    run_id = manager.start(RunSettings(epochs=1))
    filler = fill_disk(small_disk)   # the child is still importing torch: its first write will fail
    wait_until(lambda: ended(small_disk, run_id), "the run to end", RUN_TIMEOUT_S)
    said = message(small_disk, run_id)
    assert state(small_disk, run_id) == "failed"
    assert (small_disk / run_id / LOG_FILE).stat().st_size == 0, "the child could write after all"
    assert "exit code" in said and f"the disk holding {small_disk / run_id} has 0.0 MB free" in said, said
    assert "free space on that disk or set GAN_EXPLORER_RUNS" in said and "\n" not in said, said

    filler.unlink()   # room again: the manager still starts runs
    second = manager.start(RunSettings(epochs=1))
    wait_until(lambda: state(small_disk, second) == "running", "the next run to start", RUN_TIMEOUT_S)
    manager.shutdown()


@pytest.mark.slow
def test_runs_that_fail_to_start_from_the_queue_say_why_and_the_others_start_and_finish(tmp_path, data, monkeypatch):
    """B's start meets a full disk (its log, then its status), C's something unforeseen; A and D are not held up."""
    root = tmp_path / "runs"
    faults: dict[str, BaseException] = {}
    real_popen, real_write_status = subprocess.Popen, RunFolder.write_status

    def popen(cmd, *args, **kw):
        for run_id, fault in faults.items():
            if str(root / run_id) in cmd:
                raise fault
        return real_popen(cmd, *args, **kw)

    def write_status(run, state, **fields):
        if faults and run.name == next(iter(faults)):   # B's folder has no room for a new file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run.status_file))
        real_write_status(run, state, **fields)

    monkeypatch.setattr(runner.subprocess, "Popen", popen)
    monkeypatch.setattr(RunFolder, "write_status", write_status)
    manager = RunManager(root, max_active=1)
    a, b, c, d = (manager.start(RunSettings(epochs=1)) for _ in range(4))
    faults[b] = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / b / LOG_FILE))
    faults[c] = RuntimeError("a fault nobody foresaw")
    assert manager.waiting_count() == 3

    wait_until(lambda: ended(root, d), "D to finish", 2 * RUN_TIMEOUT_S,
               explain=lambda: f"states {[state(root, r) for r in (a, b, c, d)]}")
    assert [state(root, r) for r in (a, b, c, d)] == ["finished", "failed", "failed", "finished"]
    assert message(root, b) == (f"could not start training: cannot write {root / b / LOG_FILE}: no space left on "
                                "device; free space on that disk or set GAN_EXPLORER_RUNS to a folder on another one")
    assert message(root, c) == "could not start training: RuntimeError: a fault nobody foresaw"
    wait_until(lambda: manager.training_count() == manager.waiting_count() == 0, "D's child to be reaped", 10)
    manager.shutdown()


# ---- a paused run's slot -------------------------------------------------------------------------

def test_a_paused_run_lends_its_slot_and_on_resume_queues_for_one(tmp_path):
    """The slot bookkeeping alone, with stand-in trainers that note every line they are sent and end on stop."""
    fake = tmp_path / "python"   # run as `python -m gan_core.train --out RUN ...`: $4 is the run folder
    fake.write_text('#!/bin/sh\nwhile read -r line; do echo "$line" >> "$4/heard"; '
                    '[ "$line" = stop ] && exit 0; done\n')
    fake.chmod(0o755)
    root = tmp_path / "runs"
    manager = RunManager(root, max_active=1, python=str(fake), paused_slot_s=0.5)

    def heard(run_id: str) -> list[str]:
        path = root / run_id / "heard"
        return path.read_text().split() if path.exists() else []

    def started(run_id: str) -> bool:
        return (root / run_id / runner.OWNER_FILE).exists()

    try:
        a, b, c = (manager.start(RunSettings()) for _ in range(3))
        assert started(a) and [manager.queue_position(r) for r in (b, c)] == [1, 2]
        assert manager.control(a, "pause")
        wait_until(lambda: started(b), "B to get the slot A lent")
        assert manager.training_count() == 1 and manager.queue_position(c) == 1
        assert manager.control(a, "step")   # a single step needs no slot
        wait_until(lambda: heard(a) == ["pause", "step"], "A to hear the step")

        assert manager.control(a, "resume") and manager.queue_position(a) == 2   # behind C
        assert manager.control(a, "pause") and manager.queue_position(a) is None   # the Resume withdrawn
        assert manager.control(a, "resume") and manager.queue_position(a) == 2
        wait_until(lambda: len(heard(a)) >= 3, "A to hear the second pause")
        assert heard(a) == ["pause", "step", "pause"], "A was resumed without a slot"

        manager.control(b, "stop")
        wait_until(lambda: started(c), "C to start first: it waited longer")
        assert manager.queue_position(a) == 1
        manager.control(c, "stop")
        wait_until(lambda: heard(a)[-1:] == ["resume"], "A to be resumed in the slot C left")
        assert manager.queue_position(a) is None and manager.training_count() == 1
    finally:
        manager.shutdown()


# ---- who owns a run ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_whose_owner_pid_was_reused_is_stopped_at_start_up_and_continues(tmp_path, data):
    """A server and its trainer died; the trainer's pid now names an unrelated live process."""
    root = tmp_path / "runs"
    run = RunFolder(root / "reused")
    trainer = subprocess.Popen([sys.executable, "-m", "gan_core.train", "--out", str(run.path), "--epochs", "3",
                                "--device", "cpu", "--threads", "1", "--quiet"], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: run.read_status().get("epoch", 0) >= 1, "a finished epoch", RUN_TIMEOUT_S)
        assert runner.trainer_holds(run), "the manager does not see a live trainer's lock"
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    assert run.read_status()["state"] == "running"
    # Another run's trainer is alive (this test holds its lock, as gan_core.train does): it is left alone.
    held = RunFolder(root / "held")
    held.path.mkdir()
    held.write_status("running", epoch=1, epochs=3)
    stranger = subprocess.Popen(["sleep", "60"])
    lock = os.open(held.path / ".train.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        for r in (run, held):
            (r.path / runner.OWNER_FILE).write_text(str(stranger.pid))
        manager = RunManager(root, max_active=1)
        status = run.read_status()
        assert status["state"] == "stopped" and "server stopped" in status["message"], status
        assert held.read_status()["state"] == "running"
        assert not manager.owns("reused")

        assert manager.resume("reused")
        wait_until(lambda: ended(root, "reused"), "the continued run to end", 2 * RUN_TIMEOUT_S)
        assert run.read_status()["state"] == "finished" and run.read_status()["epoch"] == 3
        assert "resuming from epoch" in (run.path / LOG_FILE).read_text()
        manager.shutdown()
    finally:
        os.close(lock)
        stranger.kill()
        stranger.wait()


# ---- delete --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_delete_stops_a_training_run_first_then_removes_its_folder(tmp_path, data):
    manager = RunManager(tmp_path, max_active=1)
    run_id = manager.start(RunSettings(epochs=50))
    wait_until(lambda: state(tmp_path, run_id) == "running", "the run to train", RUN_TIMEOUT_S)
    children = training_children(tmp_path / run_id)
    assert children
    manager.delete(run_id)
    assert not (tmp_path / run_id).exists()
    assert not training_children(tmp_path / run_id), "its trainer outlived the delete"
    assert manager.training_count() == 0 and not manager.owns(run_id) and manager.was_deleted(run_id)
    manager.shutdown()
