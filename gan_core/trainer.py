"""The training loop: a Trainer that owns one run's models, optimisers and RNG, and yields events.

Progress leaves the loop as StepEvent and EpochEvent objects, so the CLI prints
and records, and tests check, from the same loop. `event_record` and
`event_from_record` are the one schema of those events on disk (events.jsonl,
whose step values gan_core/step_log.py keeps in rows under the same names).

A step is one G update and the cfg.d_steps D updates before it. Each D update
takes the next batch of the epoch's shuffled images and a fresh z, and G's update
uses the last of those z (the GAN paper's algorithm with k = d_steps; the book's
k is 1). So an epoch still sees each image once, in ceil(batches / d_steps) steps,
the last of which may have fewer D updates. While paused, a TrainControl can ask
for one whole step, or for only D's update ("d": the next batch, a fresh z) or
only G's ("g": the z of the D update just before it if there was one, else a fresh
z); a D-only update ends no step, so the step count is the number of G updates.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Callable, Iterator

import torch

from .config import GANConfig, ConfigError
from .device import resolve_device
from .model import build_models
from . import dcgan_step, step
from .precision import check_precision
from .step import make_optimizers


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the weights after that step are not usable."""


# ---- events ---------------------------------------------------------------------------

HALVES = ("both", "d", "g")   # what one update request does: a whole step, only D's update, only G's
Numbers = tuple[float, float, float, float]   # (d_loss, g_loss, D(x), D(G(z)))


@dataclass(frozen=True)
class StepEvent:
    """Values of one step. step counts steps done in the whole run (1 after the first).

    half says what the event did: "both" (a step), "d" (only D's update) or "g" (only G's).
    A step's values are the book's: d_loss, D(x), D(G(z)) before its last D update, g_loss
    before G's update; a half's four values are those before its update. A request made
    while paused also carries `before` and `after`: the four numbers on the same images and
    z just before and just after the update (for a step, on its last D update's batch).
    """
    epoch: int
    step: int
    d_loss: float
    g_loss: float
    d_x: float
    d_g_z: float
    half: str = "both"
    before: Numbers | None = None
    after: Numbers | None = None


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
    """An event as one JSON-ready dict, keyed by its own field names (one line of events.jsonl).

    Fields still at their defaults are left out, so an ordinary step's line is as short as ever."""
    record = {"kind": "step" if isinstance(ev, StepEvent) else "epoch", **asdict(ev)}
    for f in fields(ev):
        if f.default is not MISSING and record[f.name] == f.default:
            del record[f.name]
    return record


def event_from_record(record: dict) -> StepEvent | EpochEvent | None:
    """The event a record holds, or None if it is not one (a damaged or foreign line).

    A missing field that has a default takes it (older logs have no half, before or after)."""
    cls = {"step": StepEvent, "epoch": EpochEvent}.get(record.get("kind"))
    if cls is None:
        return None
    try:
        kw = {f.name: record[f.name] for f in fields(cls) if f.default is MISSING or f.name in record}
        for name in ("before", "after"):   # JSON lists back to tuples
            if kw.get(name) is not None:
                kw[name] = tuple(kw[name])
        return cls(**kw)
    except (KeyError, TypeError):
        return None


HISTORY_KEYS = ("epoch", "d_loss", "g_loss", "d_x", "d_g_z",
                "mean_d_loss", "mean_g_loss", "mean_d_x", "mean_d_g_z", "seconds")


class TrainControl:
    """Pause, resume, single-step and stop requests from another thread, honoured between steps.

    on_wait, if set, is called in the training thread each time a pause takes hold (once per
    pause, just before the trainer starts waiting): the moment to publish what it pauses with.
    """

    def __init__(self, on_wait: Callable[[], None] | None = None) -> None:
        self._cv = threading.Condition()
        self._paused = False
        self._stopped = False
        self._requests: deque[str] = deque()
        self._waited = False    # on_wait has run for the pause in force
        self.on_wait = on_wait

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._waited = False
            self._requests.clear()   # training goes on: single requests not yet done are moot
            self._cv.notify_all()

    def step_once(self, kind: str = "both") -> None:
        """While paused, allow exactly one more update: a whole step ("both"), only D's ("d") or only G's ("g").

        Ignored while running: a request that raced a resume must not fire at the next pause."""
        if kind not in HALVES:
            raise ValueError(f"kind must be one of {HALVES}, got {kind!r}")
        with self._cv:
            if self._paused:
                self._requests.append(kind)
                self._cv.notify_all()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def wait_turn(self) -> str | None:
        """Block while paused; what to do next: "run" (a step, not paused), a paused request's kind
        ("both", "d", "g"), or None once stopped."""
        while True:
            with self._cv:
                while True:
                    if self._stopped:
                        return None
                    if not self._paused:
                        return "run"
                    if self._requests:
                        return self._requests.popleft()
                    if self.on_wait is not None and not self._waited:
                        self._waited = True
                        break
                    self._cv.wait()
            self.on_wait()   # outside the lock: it may take a while, and pause/step must not wait for it


def _read_back(deferred: list[torch.Tensor]) -> list[list[float]]:
    """Steps' numbers from the device (waiting for it), emptying the list."""
    values = torch.stack(deferred).tolist()
    deferred.clear()
    return values


# ---- the trainer ---------------------------------------------------------------------

class Trainer:
    """Owns G, D, their optimisers, the RNG streams and the metric history of one run."""

    def __init__(self, cfg: GANConfig, images: torch.Tensor, device: str | torch.device | None = None,
                 precision: str = "fp32") -> None:
        """precision: "fp32" (the book's) or "bf16" (GEMMs in bfloat16; a ConfigError where it does not pay)."""
        if images.ndim != 2 or images.shape[1] != cfg.image_dim:
            raise ConfigError(f"images must be (N, {cfg.image_dim}), got {tuple(images.shape)}")
        self.cfg = cfg.validate(train_size=len(images))
        self.device = resolve_device(device)
        self.precision = check_precision(precision, self.device, cfg.arch)   # how to run, not part of the recipe
        self.x = images.to(self.device, torch.float32)
        self.G, self.D = build_models(cfg, self.device)
        if cfg.arch == "dcgan" and self.device.type == "cpu":
            # Channels-last conv weights make oneDNN keep activations NHWC: the same maths, 1.1x the images/s
            # on one thread and 1.4x on two on our 2-core CPU (bench/dcgan_speed.py). Files load into either layout.
            self.G, self.D = (m.to(memory_format=torch.channels_last) for m in (self.G, self.D))
        self.opt_g, self.opt_d = make_optimizers(self.G, self.D, cfg)
        self.steps = dcgan_step if cfg.arch == "dcgan" else step   # the same four functions for each architecture
        # Separate streams: data order on the CPU, z on the training device.
        self.perm_gen = torch.Generator().manual_seed(cfg.seed)
        self.z_gen = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.epoch = 0          # epochs completed
        self.step = 0           # steps completed, counted as they happen
        self._epoch_step = 0    # steps completed at the end of the last finished epoch (what a checkpoint holds)
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None   # (x, z) of a D-only update awaiting G's
        # Reading a value back from a GPU waits for it; there, fetch stats in batches.
        self.sync_every = 1 if self.device.type == "cpu" else 50

    @property
    def steps_per_epoch(self) -> int:
        # The last, partial batch is kept so every image is seen each epoch; a step takes d_steps batches.
        return math.ceil(math.ceil(len(self.x) / self.cfg.batch_size) / self.cfg.d_steps)

    def _epoch_batches(self) -> list[torch.Tensor]:
        perm = torch.randperm(len(self.x), generator=self.perm_gen).to(self.device)
        shuffled = self.x[perm]  # one gather an epoch, then contiguous slices (views)
        return [shuffled[i:i + self.cfg.batch_size] for i in range(0, len(shuffled), self.cfg.batch_size)]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.latent_dim, device=self.device, generator=self.z_gen)

    def _measure(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.steps.measure_gan(self.G, self.D, x, z, self.cfg.leaky_slope, self.cfg.g_loss, self.precision)

    def _update(self, half: str, batches: list[torch.Tensor], b: int,
                single: bool) -> tuple[int, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """One update ("both", "d" or "g") from batch index b: (batches used, its four numbers, before, after);
        before and after are measured only for a single request."""
        cfg, G, D, prec = self.cfg, self.G, self.D, self.precision
        if half == "both":
            xs = batches[b:b + cfg.d_steps]
            zs = [self._z(len(x)) for x in xs]
            before = self._measure(xs[-1], zs[-1]) if single else None
            for x, z in zip(xs[:-1], zs[:-1]):   # the extra D updates of d_steps > 1
                self.steps.d_step(G, D, self.opt_d, x, z, cfg.leaky_slope, prec)
            row = self.steps.gan_step(G, D, self.opt_g, self.opt_d, xs[-1], zs[-1], cfg.leaky_slope, cfg.g_loss,
                                      prec)
            used, probe, self._pending = len(xs), (xs[-1], zs[-1]), None
        elif half == "d":
            probe = self._pending = (batches[b], self._z(len(batches[b])))
            row = before = self._measure(*probe)
            self.steps.d_step(G, D, self.opt_d, *probe, cfg.leaky_slope, prec)
            used = 1
        else:
            # G alone needs no images: D(x) is measured on the D update's batch, or the next one (not used up).
            probe = self._pending or (batches[b], self._z(len(batches[b])))
            row = before = self._measure(*probe)
            self.steps.g_step(G, D, self.opt_g, probe[1], cfg.leaky_slope, cfg.g_loss, prec)
            used, self._pending = 0, None
        return used, row, before, (self._measure(*probe) if single else None)

    def run(self, control: TrainControl | None = None) -> Iterator[StepEvent | EpochEvent]:
        """Train up to cfg.epochs epochs in all, yielding step and epoch events.

        Raises TrainingDiverged if a loss stops being finite.
        """
        control = control or TrainControl()
        while self.epoch < self.cfg.epochs:
            self.step = self._epoch_step
            rows: list[list[float]] = []          # this epoch's four numbers, one row per event
            busy = yield from self._epoch_steps(control, rows)
            if busy is None:                      # stopped
                return
            self._epoch_step = self.step
            last, mean = rows[-1], torch.tensor(rows).mean(0).tolist()
            # Seconds of this epoch's stepping; a stepped-through pause still counts only step time.
            ev = EpochEvent(self.epoch, self.cfg.epochs, self.step, *last, *mean, busy,
                            len(self.x) / busy if busy > 0 else float("nan"))
            for k in HISTORY_KEYS:
                self.history[k].append(float(getattr(ev, k)))
            self.epoch += 1
            yield ev

    def _epoch_steps(self, control: TrainControl, rows: list[list[float]]):
        """One epoch's updates, as the control allows, yielding their events; returns the seconds spent
        stepping, or None if stopped. Numbers are read back from the device every sync_every steps."""
        batches = self._epoch_batches()
        b = 0                                     # batches used up this epoch
        deferred: list[torch.Tensor] = []         # steps' numbers not read back yet
        busy = 0.0
        while b < len(batches):
            if deferred and control.paused:       # about to wait: report the steps done first
                yield from self._events(_read_back(deferred), rows)
            turn = control.wait_turn()
            if turn is None:
                return None
            half, single = ("both", False) if turn == "run" else (turn, True)
            if single and deferred:               # a pause that came after the check above
                yield from self._events(_read_back(deferred), rows)
            t0 = time.perf_counter()
            used, row, before, after = self._update(half, batches, b, single)
            b += used
            if half != "d":                       # a step ends with G's update
                self.step += 1
            if single:
                values, before, after = torch.stack((row, before, after)).tolist()
                busy += time.perf_counter() - t0
                yield from self._events([values], rows, half=half, before=tuple(before), after=tuple(after))
                continue
            deferred.append(row)
            sync = len(deferred) >= self.sync_every or b == len(batches) or control.paused
            values = _read_back(deferred) if sync else []
            busy += time.perf_counter() - t0
            yield from self._events(values, rows)
        return busy

    def _events(self, values: list[list[float]], rows: list[list[float]], **extra) -> Iterator[StepEvent]:
        """Events of the last len(values) steps done (a D-only update shares its step's number)."""
        first_step = self.step - len(values) + 1
        for j, row in enumerate(values):
            if not all(math.isfinite(v) for v in row):
                raise TrainingDiverged(f"training diverged at epoch {self.epoch}, step {first_step + j}: "
                                       f"d_loss={row[0]} g_loss={row[1]}")
            rows.append(row)
            yield StepEvent(self.epoch, first_step + j, *row, **extra)

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
