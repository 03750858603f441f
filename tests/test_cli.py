"""The command-line tools, end to end as a user runs them, on a small slice of the real data."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch
from PIL import Image

from gan_core import RunFolder, load_checkpoint
from helpers import cli as run_in_process, wait_until
from test_equivalence import book_models


def cli(*args, check=True):
    p = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def run_dir(small_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    p = cli("gan_core.train", "--epochs", "1", "--batch-size", "100", "--seed", "3", "--device", "cpu",
            "--data-dir", str(small_data_dir), "--out", str(out), "--snapshot-epochs", "1,2")
    assert "epoch [0/1] d_loss:" in p.stdout
    summary = p.stdout.strip().splitlines()[-1]
    assert summary.startswith("finished:") and float(summary.split("images/s=")[1].split()[0]) > 0
    return out


@pytest.mark.slow
def test_train_writes_a_complete_run_folder(run_dir):
    run = RunFolder(run_dir)
    assert run.read_status()["state"] == "finished"
    assert run.snapshot_epochs() == [1] and run.sample_epochs() == [0]
    assert run.history_file.read_text().splitlines()[0].startswith("epoch,d_loss,g_loss")
    ck = load_checkpoint(run.checkpoint)
    assert ck.epoch == 1 and ck.step == 30 and ck.config.seed == 3


@pytest.mark.slow
def test_resume_extends_a_run(run_dir, small_data_dir):
    p = cli("gan_core.train", "--out", str(run_dir), "--resume", "--epochs", "2", "--device", "cpu",
            "--data-dir", str(small_data_dir), "--snapshot-epochs", "1,2")
    assert "epoch [1/2]" in p.stdout and "epoch [0/2]" not in p.stdout
    assert load_checkpoint(RunFolder(run_dir).checkpoint).step == 60
    assert RunFolder(run_dir).snapshot_epochs() == [1, 2]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["run", "book"])
def test_sample_and_interpolate_write_images(run_dir, tmp_path, source):
    if source == "run":
        ck = str(run_dir / "checkpoint.pt")
    else:
        ck = str(tmp_path / "G.pt")
        torch.save(book_models(seed=0)[0].state_dict(), ck)   # as a student saves it from the book
    cli("gan_core.sample", "--checkpoint", ck, "--n", "12", "--out", str(tmp_path / "grid.png"))
    assert Image.open(tmp_path / "grid.png").size == ((4 * 30 + 2) * 2, (3 * 30 + 2) * 2)   # 4 columns, 3 rows
    cli("gan_core.interpolate", "--checkpoint", ck, "--seed-a", "1", "--seed-b", "2", "--steps", "5",
        "--mode", "lerp", "--out", str(tmp_path / "strip.png"))
    assert Image.open(tmp_path / "strip.png").size[0] > 4 * Image.open(tmp_path / "strip.png").size[1]
    cli("gan_core.interpolate", "--checkpoint", ck, "--seed-a", "1", "--seed-b", "2", "--steps", "6",
        "--out", str(tmp_path / "walk.gif"))
    assert Image.open(tmp_path / "walk.gif").n_frames == 10     # 6 forward, 4 back


@pytest.mark.parametrize("args,words", [
    (["train", "--epochs", "0", "--out", "X"], "epochs must be between 1"),
    (["train", "--lr", "-1", "--out", "X"], "lr_g must be in [0, 1]"),
    (["train", "--d-steps", "6", "--out", "X"], "d_steps must be between 1 and 5, got 6"),
    (["train", "--g-loss", "wgan", "--out", "X"], "argument --g-loss: invalid choice: 'wgan'"),
    (["train", "--batch-size", "0", "--out", "X"], "batch_size must be between 1"),
    (["train", "--seed", "abc", "--out", "X"], "invalid int value: 'abc'"),
    (["train", "--out", "X", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "--out", "X", "--resume"], "nothing to resume"),
    (["train", "--out", "X", "--snapshot-epochs", "1,x"], "--snapshot-epochs must be comma-separated"),
    (["sample", "--checkpoint", "missing.pt", "--out", "x.png"], "missing.pt: no such file"),
    (["interpolate", "--checkpoint", "missing.pt", "--seed-a", "1", "--seed-b", "2", "--steps", "1",
      "--out", "x.png"], "--steps must be between 2"),
])
def test_errors_are_one_line_without_traceback(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tool = importlib.import_module(f"gan_core.cli.{args[0]}")
    code, _, err = run_in_process(tool.main, args[1:], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and f"gan_core.{args[0]}: error: " in lines[0], err
    assert "Traceback" not in err


@pytest.mark.slow
def test_the_commands_users_type_still_run(tmp_path):
    """`python -m gan_core.X` stays the public interface, whatever module holds the code."""
    for tool in ("train", "sample", "interpolate", "evaluate", "classifier", "project"):
        p = subprocess.run([sys.executable, "-m", f"gan_core.{tool}", "--help"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
        assert p.returncode == 0 and f"python -m gan_core.{tool}" in p.stdout and not p.stderr, (tool, p.stderr)


@pytest.mark.slow
def test_resume_refuses_settings_it_would_ignore(run_dir, small_data_dir):
    p = cli("gan_core.train", "--out", str(run_dir), "--resume", "--batch-size", "50", "--device", "cpu",
            "--data-dir", str(small_data_dir), check=False)
    assert p.returncode == 2 and "--batch-size 50 differs from the checkpoint's 100" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_paused_run_says_so_before_any_step_and_single_steps_on_request(small_data_dir, tmp_path):
    """The app reads status.json: a run paused before its first step must say paused, not running."""
    import json
    import time

    def state():
        try:
            return json.loads((tmp_path / "status.json").read_text()).get("state")
        except (OSError, ValueError):
            return None

    def wait_for(done, what):
        wait_until(done, what, 60, every=0.02, explain=lambda: f"state {state()}")

    def send(line):
        p.stdin.write(line + "\n")
        p.stdin.flush()

    steps = lambda: RunFolder(tmp_path).read_events()[0]  # noqa: E731
    p = subprocess.Popen([sys.executable, "-m", "gan_core.train", "--out", str(tmp_path), "--epochs", "200",
                          "--device", "cpu", "--threads", "1", "--data-dir", str(small_data_dir), "--control",
                          "stdin", "--events", "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        send("pause")                                   # before the trainer has even loaded the data
        wait_for(lambda: state() == "paused", "the pause")
        time.sleep(1.0)
        assert state() == "paused" and steps() == []
        send("step")
        wait_for(lambda: len(steps()) == 1, "one step")
        time.sleep(0.5)
        assert [e.step for e in steps()] == [1]          # exactly one D+G step, then paused again
        send("resume")
        wait_for(lambda: len(steps()) > 5, "training to go on")
        send("stop")
        assert p.wait(60) == 0 and state() == "stopped"
    finally:
        p.kill()


@pytest.mark.slow
def test_a_resumed_run_keeps_its_recording_settings(small_data_dir, tmp_path, monkeypatch, capsys):
    """A run's sample interval and snapshot epochs live in its folder: --resume (the app's Continue) keeps them."""
    from gan_core.cli import recorder, train

    sampled = []
    real_samples = recorder.Recorder.samples
    monkeypatch.setattr(recorder.Recorder, "samples", lambda self, epoch: (sampled.append((self.trainer.step, epoch)),
                                                                             real_samples(self, epoch)))
    common = ["--out", tmp_path, "--device", "cpu", "--data-dir", small_data_dir, "--quiet"]
    code, _, err = run_in_process(train.main, ["--epochs", "1", "--sample-every", "7", "--snapshot-epochs", "log",
                                               *common], capsys)
    assert code == 0, err
    assert [s for s, e in sampled if e is None] == [0, 7, 14, 21, 28]
    sampled.clear()
    code, _, err = run_in_process(train.main, ["--epochs", "3", "--resume", *common], capsys)
    assert code == 0, err
    # 30 steps an epoch: the resumed epochs still refresh every 7 steps, and 'log' became epochs 1, 2, 3.
    assert [s for s, e in sampled if e is None] == [35, 42, 49, 56, 63, 70, 77, 84]
    run = RunFolder(tmp_path)
    assert run.snapshot_epochs() == [1, 2, 3]
    assert run.read_settings()[1].sample_every == 7
