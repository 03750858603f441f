"""The training loop: a Trainer that owns one run's models, optimisers and RNG, and yields events.

Progress leaves the loop as StepEvent and EpochEvent objects, so the CLI prints
and records, and tests check, from the same loop. `event_record` and
`event_from_record` are the one schema of those events on disk (events.jsonl,
whose step values gan_core/step_log.py keeps in rows under the same names).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Iterator

import torch

from .config import GANConfig, ConfigError
from .device import resolve_device
from .model import build_models
from .step import gan_step, make_optimizers


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the weights after that step are not usable."""


# ---- events ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StepEvent:
    """Values of one step. step counts steps done in the whole run (1 after the first)."""
    epoch: int
    step: int
    d_loss: float
    g_loss: float
    d_x: float
    d_g_z: float


@dataclass(frozen=True)
class EpochEvent:
    """End of an epoch (0-based, like the book's printout); last_* are the last batch's values."""
    epoch: int
    epochs: int
    step: int
    d_loss: float
    g_loss: float
    d_x: float
    d_g_z: float
    mean_d_loss: float
    mean_g_loss: float
    mean_d_x: float
    mean_d_g_z: float
    seconds: float
    images_per_sec: float

    def book_line(self) -> str:
        """The book's once-per-epoch printout."""
        return (f"epoch [{self.epoch}/{self.epochs}] d_loss:{self.d_loss:.4f} g_loss: {self.g_loss:.4f} "
                f"D(x):{self.d_x:.2f} D(G(z)):{self.d_g_z:.2f}")


def event_record(ev: StepEvent | EpochEvent) -> dict:
    """An event as one JSON-ready dict, keyed by its own field names (one line of events.jsonl)."""
    return {"kind": "step" if isinstance(ev, StepEvent) else "epoch", **asdict(ev)}


def event_from_record(record: dict) -> StepEvent | EpochEvent | None:
    """The event a record holds, or None if it is not one (a damaged or foreign line)."""
    cls = {"step": StepEvent, "epoch": EpochEvent}.get(record.get("kind"))
    if cls is None:
        return None
    try:
        return cls(**{f.name: record[f.name] for f in fields(cls)})
    except (KeyError, TypeError):
        return None


HISTORY_KEYS = ("epoch", "d_loss", "g_loss", "d_x", "d_g_z",
                "mean_d_loss", "mean_g_loss", "mean_d_x", "mean_d_g_z", "seconds")


class TrainControl:
    """Pause, resume, single-step and stop requests from another thread, honoured between steps."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._paused = False
        self._stopped = False
        self._step_credits = 0

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._cv.notify_all()

    def step_once(self) -> None:
        """While paused, allow exactly one more step."""
        with self._cv:
            self._step_credits += 1
            self._cv.notify_all()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def wait_turn(self) -> bool:
        """Block while paused; True when the next step may run, False once stopped."""
        with self._cv:
            while self._paused and not self._stopped and self._step_credits == 0:
                self._cv.wait()
            if self._stopped:
                return False
            if self._paused:
                self._step_credits -= 1
            return True


# ---- the trainer ---------------------------------------------------------------------

class Trainer:
    """Owns G, D, their optimisers, the RNG streams and the metric history of one run."""

    def __init__(self, cfg: GANConfig, images: torch.Tensor, device: str | torch.device | None = None) -> None:
        if images.ndim != 2 or images.shape[1] != cfg.image_dim:
            raise ConfigError(f"images must be (N, {cfg.image_dim}), got {tuple(images.shape)}")
        self.cfg = cfg.validate(train_size=len(images))
        self.device = resolve_device(device)
        self.x = images.to(self.device, torch.float32)
        self.G, self.D = build_models(cfg, self.device)
        self.opt_g, self.opt_d = make_optimizers(self.G, self.D, cfg)
        # Separate streams: data order on the CPU, z on the training device.
        self.perm_gen = torch.Generator().manual_seed(cfg.seed)
        self.z_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.epoch = 0          # epochs completed
        self.step = 0           # steps completed, counted as they happen
        self._epoch_step = 0    # steps completed at the end of the last finished epoch (what a checkpoint holds)
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        # Reading a value back from a GPU waits for it; there, fetch stats in batches.
        self.sync_every = 1 if self.device.type == "cpu" else 50

    @property
    def steps_per_epoch(self) -> int:
        # The last, partial batch is kept so every image is seen each epoch.
        return math.ceil(len(self.x) / self.cfg.batch_size)

    def _epoch_batches(self) -> Iterator[torch.Tensor]:
        perm = torch.randperm(len(self.x), generator=self.perm_gen).to(self.device)
        shuffled = self.x[perm]  # one gather an epoch, then contiguous slices
        for i in range(0, len(shuffled), self.cfg.batch_size):
            yield shuffled[i:i + self.cfg.batch_size]

    def run(self, control: TrainControl | None = None) -> Iterator[StepEvent | EpochEvent]:
        """Train up to cfg.epochs epochs in all, yielding step and epoch events.

        Raises TrainingDiverged if a loss stops being finite.
        """
        cfg, control = self.cfg, control or TrainControl()
        while self.epoch < cfg.epochs:
            stats = torch.empty(self.steps_per_epoch, 4, device=self.device)
            reported = 0
            busy = 0.0  # seconds spent stepping, not paused
            done = 0
            start = self._epoch_step
            for i, x in enumerate(self._epoch_batches()):
                if not control.wait_turn():
                    return
                t0 = time.perf_counter()
                z = torch.randn(len(x), cfg.latent_dim, device=self.device, generator=self.z_gen)
                stats[i] = gan_step(self.G, self.D, self.opt_g, self.opt_d, x, z, cfg.leaky_slope)
                done = i + 1
                self.step = start + done
                if done - reported >= self.sync_every or done == self.steps_per_epoch or control.paused:
                    rows = stats[reported:done].tolist()
                    busy += time.perf_counter() - t0
                    for j, row in enumerate(rows, start=reported):
                        if not all(math.isfinite(v) for v in row):
                            raise TrainingDiverged(
                                f"training diverged at epoch {self.epoch}, step {start + j + 1}: "
                                f"d_loss={row[0]} g_loss={row[1]}")
                        yield StepEvent(self.epoch, start + j + 1, *row)
                    reported = done
                else:
                    busy += time.perf_counter() - t0
            self._epoch_step = self.step
            rows = stats[:done]
            last, mean = rows[-1].tolist(), rows.mean(0).tolist()
            # Seconds of this epoch's stepping; a stepped-through pause still counts only step time.
            ev = EpochEvent(self.epoch, cfg.epochs, self.step, *last, *mean, busy,
                            len(self.x) / busy if busy > 0 else float("nan"))
            for k in HISTORY_KEYS:
                self.history[k].append(float(getattr(ev, k)))
            self.epoch += 1
            yield ev

    # ---- state ---------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly (see checkpoints.save_checkpoint)."""
        return {
            "config": self.cfg.to_dict(),
            "epoch": self.epoch,
            "step": self._epoch_step,   # a stopped epoch is redone on resume, so count it as not done
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "history": {k: list(v) for k, v in self.history.items()},
            "rng": {"perm": self.perm_gen.get_state(), "z": self.z_gen.get_state(),
                    "z_device": self.device.type},
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's state (as returned by checkpoints.load_checkpoint)."""
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._epoch_step = self.step
        self.history = {k: [float(v) for v in state["history"].get(k, [])] for k in HISTORY_KEYS}
        rng = state.get("rng") or {}
        if "perm" in rng:
            self.perm_gen.set_state(rng["perm"])
        if "z" in rng and rng.get("z_device") == self.device.type:
            self.z_gen.set_state(rng["z"])
        else:
            # A CUDA stream's state cannot seed a CPU one: start a fresh, still seeded, stream.
            self.z_gen.manual_seed(self.cfg.seed + 1 + self.epoch)
