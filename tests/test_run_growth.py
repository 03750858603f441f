"""Runs that grow (issue 10, item 4): a bounded step log, a disk budget per run, any run opened fast.

The step log is fed synthetic events (no training needed to make a run long); the disk budget
is reached by a real, short CLI run on the small data set. bench/run_open.py has the real
figures for opening runs; the bounds here are generous, to hold on a busy machine.
"""
from __future__ import annotations

import functools
import json
import time
import tracemalloc

import numpy as np
import pytest
import torch

from explorer import charts
from explorer.run_curves import Curves, RunCurves
from gan_core import GANConfig, Recording, RunFolder, TrainControl, Trainer, load_checkpoint
from gan_core.cli import recorder, train
from gan_core.step_log import HEADER, ROWS, StepLog, StepMeans, bucket_size
from gan_core.trainer import EpochEvent, StepEvent
from helpers import cli as run_in_process


def gan_like(steps: int, seed: int = 0) -> np.ndarray:
    """(steps, 4) values of d_loss, g_loss, D(x), D(G(z)): slow drifts under per-step noise."""
    t = np.linspace(0, 1, steps)[:, None]
    drift = np.array([1.3, 0.8, 0.7, 0.3]) + t * np.array([-0.3, 0.6, -0.2, 0.15]) + 0.05 * np.sin(40 * t)
    return drift + np.random.default_rng(seed).normal(0, [0.15, 0.4, 0.08, 0.08], (steps, 4))


def epoch_event(values: np.ndarray, epoch: int, epochs: int, spe: int) -> EpochEvent:
    rows = values[epoch * spe:(epoch + 1) * spe]
    return EpochEvent(epoch, epochs, (epoch + 1) * spe, *rows[-1], *rows.mean(0), 1.0, 100.0)


def feed(log: StepLog, values: np.ndarray, spe: int, epochs: range, flush_every: int, after_epoch=None) -> None:
    """The events of `epochs` into a StepLog, flushed every flush_every steps and at each epoch's end,
    as the Recorder does (whole buckets only, while training runs)."""
    total = len(values) // spe
    for e in epochs:
        for s in range(e * spe + 1, (e + 1) * spe + 1):
            log.add(StepEvent(e, s, *values[s - 1].tolist()))
            if s % flush_every == 0:
                log.flush(whole=False)
        log.add(epoch_event(values, e, total, spe))
        log.flush(whole=False)
        if after_epoch:
            after_epoch(e)


def assert_each_step_once(run: RunFolder, last_step: int, spe: int) -> None:
    part, _ = run.read_log()
    ends = np.concatenate(([0], part.steps))
    assert (np.diff(ends) == part.counts).all(), "rows must follow each other: no step missing or logged twice"
    assert ends[-1] == last_step
    assert ((part.steps - part.counts) // spe == (part.steps - 1) // spe).all(), "a bucket spans two epochs"
    assert [e.step for e in part.epochs] == list(range(spe, last_step + 1, spe))


def test_the_step_log_of_a_long_run_stays_bounded_and_keeps_each_step_once(tmp_path):
    rows, max_bytes, spe, epochs = 256, 32 << 10, 5000, 20   # a log a hundredth the size, for a run 400 x its rows
    run = RunFolder(tmp_path)
    values = gan_like(spe * epochs)
    log = StepLog(run.events_file, rows=rows, max_bytes=max_bytes)
    sizes = []
    feed(log, values, spe, range(epochs), flush_every=50,
         after_epoch=lambda e: sizes.append(run.events_file.stat().st_size))

    # The old format held 124 bytes a step, 12 MB here; this one never passes its bound by more than a flush.
    assert max(sizes) < 1.25 * max_bytes, sizes
    part, _ = run.read_log()
    n = spe * epochs
    assert len(part.steps) <= 2 * rows + epochs
    assert part.counts.max() <= bucket_size(n, rows) and part.counts[:10].max() > 1   # old rows were merged
    assert_each_step_once(run, n, spe)
    assert run.events_file.read_text().startswith(HEADER)

    # Bucketed or not, a paused run's single step is in the log as soon as it is flushed whole.
    log.add(StepEvent(epochs, n + 1, 0.1, 0.2, 0.3, 0.4))
    log.flush(whole=True)
    part, _ = run.read_log()
    assert part.steps[-1] == n + 1 and part.counts[-1] == 1
    assert run.read_events()[0][-1] == StepEvent(epochs, n + 1, 0.1, 0.2, 0.3, 0.4)


def test_a_short_run_keeps_every_step(tmp_path):
    run = RunFolder(tmp_path)
    values = gan_like(1200)
    feed(StepLog(run.events_file), values, 600, range(2), flush_every=7)
    events, _ = run.read_events()
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [e.step for e in steps] == list(range(1, 1201)) and not any(isinstance(e, StepMeans) for e in events)
    assert np.allclose([[e.d_loss, e.g_loss, e.d_x, e.d_g_z] for e in steps], values, rtol=1e-6)


def test_a_resume_trims_a_bucketed_log_to_its_checkpoint_and_converts_an_old_one(tmp_path):
    spe, rows = 1000, 256
    run = RunFolder(tmp_path / "new")
    run.path.mkdir()
    values = gan_like(30 * spe)
    log = StepLog(run.events_file, rows=rows, max_bytes=16 << 10)
    feed(log, values, spe, range(25), flush_every=70)
    for s in range(25 * spe + 1, 25 * spe + 401):     # killed 400 steps into epoch 25...
        log.add(StepEvent(25, s, *values[s - 1].tolist()))
    log.flush(whole=False)
    with open(run.events_file, "a") as f:              # ...in the middle of a line
        f.write('{"kind":"steps","epoch":[25],"st')
    run.recover()
    run.trim_events(20 * spe)                          # the checkpoint's step
    assert_each_step_once(run, 20 * spe, spe)
    log = StepLog(run.events_file, rows=rows, max_bytes=16 << 10)
    feed(log, values, spe, range(20, 30), flush_every=70)
    log.flush()
    assert_each_step_once(run, 30 * spe, spe)

    # A log the code before bucketing wrote: a line a step. A resume converts it as it trims it.
    old = RunFolder(tmp_path / "old")
    old.path.mkdir()
    lines = [json.dumps({"kind": "step", "epoch": (s - 1) // spe, "step": s, **dict(zip(
        ("d_loss", "g_loss", "d_x", "d_g_z"), values[s - 1].tolist()))}) for s in range(1, 3 * spe + 1)]
    for e in range(3):
        lines.insert((e + 1) * (spe + 1) - 1, json.dumps({"kind": "epoch", **vars(epoch_event(values, e, 3, spe))}))
    old.events_file.write_text("\n".join(lines) + "\n")
    old.trim_events(2 * spe)
    assert old.events_file.read_text().startswith(HEADER)
    assert_each_step_once(old, 2 * spe, spe)
    part, _ = old.read_log()
    assert (part.counts == 1).all() and np.allclose(part.values, values[:2 * spe], rtol=1e-6)


@pytest.mark.slow
def test_a_recorder_at_batch_size_1_keeps_its_log_bounded_and_shows_a_paused_step(tmp_path, monkeypatch):
    # A log capped at 64 kB (a hundredth of the real cap) and 90,000 synthetic steps of batch size 1.
    monkeypatch.setattr(recorder, "StepLog", functools.partial(StepLog, rows=1024, max_bytes=64 << 10))
    trainer = Trainer(GANConfig(batch_size=1, epochs=30), torch.rand(3000, 784) * 2 - 1, "cpu")
    run, control, spe = RunFolder(tmp_path), TrainControl(), trainer.steps_per_epoch
    rec = recorder.Recorder(run, trainer, control, Recording(disk_budget_mb=0), log_events=True, quiet=True,
                            yield_to=None)
    values = gan_like(30 * spe)
    for e in range(30):
        for s in range(e * spe + 1, (e + 1) * spe + 1):
            trainer.step = s
            rec.event(StepEvent(e, s, *values[s - 1].tolist()))
        trainer.epoch = e + 1
        rec.event(epoch_event(values, e, 30, spe))
    assert run.events_file.stat().st_size < 80 << 10   # a line a step would be 11 MB
    assert_each_step_once(run, 30 * spe, spe)

    control.pause()   # Pause, then Step: that one step is in the log at once, though rows hold buckets now
    trainer.step += 1
    rec.event(StepEvent(30, trainer.step, 0.5, 0.5, 0.5, 0.5))
    part, _ = run.read_log()
    assert part.steps[-1] == trainer.step and part.counts[-1] == 1
    rec.close()


def curves_of(values: np.ndarray, spe: int, epochs: int) -> Curves:
    """What the app held when the log had every step: a row per step."""
    n = epochs * spe
    means = np.array([values[e * spe:(e + 1) * spe].mean(0) for e in range(epochs)])
    return Curves(np.arange(1, n + 1, dtype=float), values[:n], np.arange(spe, n + 1, spe, dtype=float),
                  np.column_stack([means, np.full(epochs, 100.0)]), None)


def assert_same_charts(bounded: Curves, full: Curves, spe: int) -> None:
    for figure in (charts.loss_figure, charts.verdict_figure):
        got, want = figure(bounded, spe).data, figure(full, spe).data
        assert [t.name for t in got] == [t.name for t in want]
        for g, w in zip(got, want):
            assert np.array_equal(g.x, w.x)
            # 0.01 is a pixel or so of the loss chart; the noise the line smooths away is 15-40 times that.
            assert np.abs(np.asarray(g.y) - np.asarray(w.y)).max() < 0.01, (figure.__name__, g.name)


@pytest.mark.slow
def test_charts_from_a_bounded_log_match_the_full_log(tmp_path):
    """A book-length run (500 epochs of 600 steps), its log rewritten to coarser buckets as it grows:
    at every stage the app's charts equal those drawn from every step."""
    spe, epochs = 600, 500
    run = RunFolder(tmp_path)
    values = gan_like(spe * epochs, seed=1)
    curves = RunCurves(run)     # reads as the log grows, so it sees the rewrites (a new file each time)
    inodes = set()

    def check(e: int) -> None:
        inodes.add(run.events_file.stat().st_ino)
        if e % 100 == 99:
            assert_same_charts(curves.update(), curves_of(values, spe, e + 1), spe)
    log = StepLog(run.events_file, max_bytes=4 << 20)   # the real rows; half the real bytes, so it rewrites
    feed(log, values, spe, range(epochs), flush_every=250, after_epoch=check)
    assert len(inodes) >= 3, "the log should have been rewritten as it grew"
    snap = curves.update()
    assert len(snap.steps) < ROWS * 2 and snap.steps[-1] == spe * epochs and snap.first_step == 1


def write_old_log(run: RunFolder, steps: int, spe: int) -> None:
    """events.jsonl as the code before bounded logs wrote it: a line a step."""
    with open(run.events_file, "w") as f:
        for s in range(1, steps + 1):
            f.write(f'{{"kind":"step","epoch":{(s - 1) // spe},"step":{s},"d_loss":{1 + (s % 7) / 10},'
                    f'"g_loss":0.8123456789012345,"d_x":0.6123456789012345,"d_g_z":0.31234567890123456}}\n')
            if s % spe == 0:
                f.write(json.dumps({"kind": "epoch", **vars(EpochEvent((s - 1) // spe, 10, s, *[0.5] * 10))}) + "\n")


@pytest.mark.slow
def test_a_huge_old_log_opens_fast_in_little_memory(tmp_path):
    spe, steps = 60_000, 600_000      # 10 epochs at batch size 1, 80 MB: the old code took 4 s and 700 MB here
    run = RunFolder(tmp_path)
    write_old_log(run, steps, spe)
    t0 = time.perf_counter()
    snap = RunCurves(run).update()
    figures = [charts.loss_figure(snap, spe), charts.verdict_figure(snap, spe)]
    assert time.perf_counter() - t0 < 3.0     # under 0.5 s on a quiet machine (bench/run_open.py)
    tracemalloc.start()
    RunCurves(run).update()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, f"{peak / 1e6:.0f} MB"

    # What it shows: the last part, ending on the last step, and it says so.
    assert snap.steps[-1] == steps and 1 < snap.first_step < steps - 20_000
    assert "format before logs were bounded" in snap.note and f"{snap.first_step:,}" in snap.note
    assert all(t.x[-1] == steps / spe for t in figures[0].data if t.mode == "lines")


@pytest.mark.slow
def test_a_run_stops_at_its_disk_budget_says_why_and_continues_with_a_bigger_one(small_data_dir, tmp_path, capsys):
    run = RunFolder(tmp_path / "run")
    # The checkpoint is 6.6 MB and each snapshot 0.6 MB: an 8 MB budget is reached after a few epochs.
    common = ["--out", run.path, "--device", "cpu", "--threads", "1", "--data-dir", small_data_dir, "--quiet",
              "--events", "--epochs", "12"]
    code, out, err = run_in_process(train.main, [*common, "--snapshot-epochs", ",".join(map(str, range(1, 13))),
                                                 "--disk-budget-mb", "8"], capsys)
    assert code == 0, err
    status = run.read_status()
    message = status["message"]
    assert status["state"] == "stopped" and 1 <= status["epoch"] < 12
    assert message.startswith("disk budget reached: the run folder holds ") and "its budget of 8 MB" in message
    assert "--disk-budget-mb" in message and f"checkpoint of epoch {status['epoch']} is kept" in message
    assert message in out and out.strip().splitlines()[-1].startswith("stopped: ")
    used = sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())
    assert 8e6 < used < 8e6 + 1.5e6, used     # stopped within about an epoch's worth of files
    assert load_checkpoint(run.checkpoint).epoch == status["epoch"]
    assert json.loads(run.settings_file.read_text())["recording"]["disk_budget_mb"] == 8

    # Raised, the budget is kept in the run's settings, and the run goes on to its end.
    code, out, err = run_in_process(train.main, [*common, "--resume", "--disk-budget-mb", "20"], capsys)
    assert code == 0, err
    assert run.read_status()["state"] == "finished" and load_checkpoint(run.checkpoint).epoch == 12
    assert run.read_settings()[1].disk_budget_mb == 20
    assert_each_step_once(run, 12 * 30, 30)


def test_a_bad_disk_budget_is_one_line(tmp_path, capsys):
    code, _, err = run_in_process(train.main, ["--out", tmp_path, "--disk-budget-mb", "-1"], capsys)
    assert code != 0 and err.strip().count("\n") == 0
    assert "disk budget must be a whole number of MB, 0 (no limit) or more, got -1" in err
    with pytest.raises(Exception, match="disk budget"):
        Recording(disk_budget_mb=2.5).validate()
