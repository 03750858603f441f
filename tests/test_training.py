"""The trainer: learning on the real data, reproducibility, partial batches, control, divergence."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from gan_core import (EpochEvent, GANConfig, StepEvent, TrainControl, Trainer, TrainingDiverged,
                      load_fashion_mnist, note_interaction)
from gan_core.courtesy import Courtesy


@pytest.fixture(scope="module")
def small(small_data_dir):
    return load_fashion_mnist(True, small_data_dir)[0]


@pytest.mark.slow
def test_first_steps_on_real_data_look_like_the_books_first_epoch(fashion_train):
    """The book's epoch 0 ends at D(x) 1.00, D(G(z)) 0.03: D quickly wins against a fresh G."""
    tr = Trainer(GANConfig(), fashion_train[0], "cpu")
    steps = []
    for ev in tr.run():
        steps.append(ev)
        if len(steps) == 300:
            break
    tail = steps[-50:]
    assert all(isinstance(e, StepEvent) for e in steps) and steps[-1].step == 300
    assert all(torch.isfinite(torch.tensor([e.d_loss, e.g_loss])).all() for e in steps)
    assert sum(e.d_x for e in tail) / 50 > 0.85
    assert sum(e.d_g_z for e in tail) / 50 < 0.15
    assert sum(e.g_loss for e in tail) / 50 > 2.5 > sum(e.d_loss for e in tail) / 50


def test_seeded_runs_are_reproducible_and_seeds_differ(small):
    def weights(seed):
        tr = Trainer(GANConfig(epochs=1, seed=seed, batch_size=250), small, "cpu")
        list(tr.run())
        return tr.G[4].weight.clone()
    a, b, c = weights(1), weights(1), weights(2)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.slow
def test_batch_size_that_does_not_divide_the_data_keeps_the_last_partial_batch(small):
    tr = Trainer(GANConfig(epochs=2, batch_size=128), small, "cpu")
    events = list(tr.run())
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert tr.steps_per_epoch == 24 and [e.step for e in epochs] == [24, 48]   # 23 full batches + 56 images
    assert len([e for e in events if isinstance(e, StepEvent)]) == 48
    assert epochs[0].book_line().startswith("epoch [0/2] d_loss:") and " D(G(z)):" in epochs[0].book_line()
    assert tr.history["epoch"] == [0.0, 1.0]


def test_pause_single_step_and_stop_between_steps(small):
    tr = Trainer(GANConfig(epochs=5, batch_size=100), small, "cpu")
    control = TrainControl()
    it = tr.run(control)
    next(it)
    control.pause()
    seen = []
    worker = threading.Thread(target=lambda: seen.extend(it))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and seen == []          # paused: no step runs
    control.step_once()
    control.step_once()
    worker.join(0.5)
    assert [e.step for e in seen] == [2, 3]          # exactly one step per request
    control.stop()
    worker.join(5)
    assert not worker.is_alive() and tr.epoch == 0
    # The step count follows every step; a checkpoint still counts only finished epochs' steps,
    # since resuming redoes the unfinished epoch.
    assert tr.step == 3 and tr.state_dict()["step"] == 0


def test_a_non_finite_loss_stops_the_run(small):
    tr = Trainer(GANConfig(epochs=1), small, "cpu")
    with torch.no_grad():
        tr.D[0].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="diverged at epoch 0, step 1"):
        list(tr.run())


def test_courtesy_pauses_while_the_file_is_fresh_and_never_more_than_its_share(tmp_path):
    flag = tmp_path / ".interaction"
    clock = [1000.0]
    slept = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    c = Courtesy(flag, window=0.15, share=0.5, clock=lambda: clock[0], sleep=sleep)
    c.pause_if_busy()
    assert slept == []                                   # no file yet: nobody to yield to
    note_interaction(flag)
    c.pause_if_busy()
    assert len(slept) == 1 and 0.1 < slept[0] <= 0.15   # fresh: pause for what is left of the window
    os.utime(flag, (0, 0))                               # long ago
    c.pause_if_busy()
    assert len(slept) == 1                               # stale: train at full speed
    # Someone interacting all the time: over 10 s of steps of 10 ms, at most about half is given away.
    for _ in range(1000):
        note_interaction(flag)
        c.pause_if_busy()
        clock[0] += 0.01
    trained = 1000 * 0.01
    assert c.paused_s <= 0.5 * (trained + c.paused_s) + 0.3 + 1e-9
    assert c.paused_s > 0.3 * (trained + c.paused_s)     # ... and it does yield
