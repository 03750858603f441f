"""What a training run leaves on disk and on screen, fed one event at a time.

The train CLI loops over `Trainer.run()` and hands every event to one Recorder:
it moves the progress bar, prints the book's line, appends the step log, and
writes the status, samples, checkpoints, history and snapshots of the run folder.
When the folder passes its disk budget it stops the run and says why (stop_reason).
"""
from __future__ import annotations

import sys
import threading
import time

import torch
from tqdm import tqdm

from ..checkpoints import save_checkpoint
from ..courtesy import Courtesy
from ..latent import d_scores, decode, z_from_seed
from ..run_folder import FolderSize, Recording, RunFolder
from ..step_log import StepLog
from ..trainer import EpochEvent, StepEvent, TrainControl, Trainer, event_record

SAMPLE_COUNT = 16        # images in the fixed-z progress grid
FLUSH_EVERY_S = 0.25     # how often the step log reaches the disk (and the disk budget is checked) while training
MB = 1_000_000


class Recorder:
    """Records one run: call `event(ev)` for each event, then `finish(outcome)` or `fail(state, message)`."""

    def __init__(self, run: RunFolder, trainer: Trainer, control: TrainControl, recording: Recording, *,
                 log_events: bool, quiet: bool, yield_to: str | None) -> None:
        self.run, self.trainer, self.control, self.recording = run, trainer, control, recording
        self.log = StepLog(run.events_file) if log_events else None
        self.folder_size = FolderSize(run)
        self.stop_reason = ""                           # why the Recorder stopped the run, if it did
        cfg = trainer.cfg
        self.fixed_z = z_from_seed(cfg.seed + 2, SAMPLE_COUNT, cfg.latent_dim)  # one z batch, to watch G learn
        self.meta = {"device": trainer.device.type, "torch": str(torch.__version__), "precision": trainer.precision}
        self.bar = tqdm(total=cfg.epochs * trainer.steps_per_epoch, initial=trainer.step, unit="step",
                        disable=quiet, file=sys.stderr, dynamic_ncols=True, smoothing=0.05)
        self.courtesy = Courtesy(yield_to)
        self.last_flush = time.monotonic()
        self.train_seconds, self.images_seen = 0.0, 0   # in this process, for the summary's images/s
        self._status_lock = threading.Lock()            # the stdin listener writes the status too
        # When a pause takes hold, show the grid as G stands then: the "before" of a single update.
        control.on_wait = lambda: self.samples(None)
        self.updates = 0                                # single updates done while paused, in this process
        self.last_update: dict | None = None            # the last one's event (half, before, after), while paused
        self.threads: int | None = None                 # CPU threads asked for (use_threads), set before the next step

    def use_threads(self, n: int) -> None:
        """Train with n CPU threads from the next step on (from any thread: torch's setting is the training
        thread's own, so that thread applies it)."""
        if 1 <= n <= 256:
            self.threads = n

    @property
    def images_per_sec(self) -> float:
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else 0.0

    def status(self, state: str, message: str = "") -> None:
        """Write status.json; 'running' becomes 'paused' when a pause is in force."""
        t = self.trainer
        with self._status_lock:
            if state in ("running", "paused"):   # re-read under the lock: a pause may just have arrived
                state = "paused" if self.control.paused else "running"
            extra = {"update": self.last_update} if self.last_update else {}
            self.run.write_status(state, message=message, epoch=t.epoch, epochs=t.cfg.epochs, step=t.step,
                                  steps_per_epoch=t.steps_per_epoch, images_per_sec=self.images_per_sec,
                                  config=t.cfg.to_dict(), **extra)

    def samples(self, epoch: int | None) -> None:
        """The fixed-z grid as G draws it now, with D's verdict on each image."""
        G, D = self.trainer.G.eval(), self.trainer.D.eval()
        imgs = decode(G, self.fixed_z, self.trainer.cfg.image_size)
        self.run.write_samples(imgs, d_scores(D, imgs), epoch, self.trainer.step)
        G.train(), D.train()

    def event(self, ev: StepEvent | EpochEvent) -> None:
        if isinstance(ev, StepEvent):
            self._step(ev)
        else:
            self._epoch(ev)
        if self.threads is not None and self.threads != torch.get_num_threads():
            torch.set_num_threads(self.threads)
        if self.log:
            self.log.add(ev)
        now = time.monotonic()
        if now - self.last_flush > FLUSH_EVERY_S or isinstance(ev, EpochEvent) or self.control.paused:
            self.last_flush = now
            if self.log:
                # Whole buckets only, but a paused run's single step shows at once.
                self.log.flush(whole=self.control.paused)
                self.status("running")
            self._check_budget()

    def _step(self, ev: StepEvent) -> None:
        self.bar.update(0 if ev.half == "d" else 1)   # the bar counts steps; a D-only update ends none
        self.last_update = None
        if ev.after is not None:   # a request made while paused: a step, or D's or G's update alone
            self.updates += 1      # numbered, so a reader of status.json sees each one arrive
            self.last_update = {"n": self.updates, **event_record(ev)}
        if self.control.paused:    # publish its grid, then its numbers and progress, at once
            self.samples(None)
            self.status("paused")
        elif self.recording.sample_every and ev.step % self.recording.sample_every == 0:
            self.samples(None)
        self.courtesy.pause_if_busy()

    def _epoch(self, ev: EpochEvent) -> None:
        t = self.trainer
        self.train_seconds += ev.seconds
        self.images_seen += len(t.x)
        self.bar.write(ev.book_line())
        save_checkpoint(self.run.checkpoint, t.state_dict(), meta=self.meta)
        if self.recording.snapshot_after(ev.epoch + 1, ev.epochs):
            snapshot = save_checkpoint(self.run.snapshot_path(ev.epoch + 1), t.state_dict(), half=True,
                                       generator_only=True, meta=self.meta)
            self.folder_size.added(snapshot)
        self.run.write_history(t.history)
        self.samples(ev.epoch)
        self.folder_size.added(self.run.samples_path(ev.epoch))
        self.status("running")

    def _check_budget(self) -> None:
        """Stop the run, saying why, once its folder holds more than its disk budget."""
        budget, t = self.recording.disk_budget_mb, self.trainer
        if not budget or self.stop_reason or (used := self.folder_size.total()) <= budget * MB:
            return
        kept = (f"the checkpoint of epoch {t.epoch} is kept" if self.run.checkpoint.is_file()
                else "no epoch had finished")
        self.stop_reason = (
            f"disk budget reached: the run folder holds {used / MB:,.1f} MB, more than its budget of {budget:,} MB; "
            f"stopped at epoch {t.epoch}, step {t.step:,} ({kept}). To go on, raise the budget "
            f"(--disk-budget-mb with --resume; GAN_EXPLORER_DISK_BUDGET_MB for the app's runs) and continue")
        self.control.stop()

    def flush(self) -> None:
        """Write everything pending to the step log (at the end of a run)."""
        if self.log:
            self.log.flush()

    def close(self) -> None:
        self.bar.close()
