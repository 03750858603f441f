"""The book's training step, written for speed, and the loop that drives it.

The maths is chapter 14's exactly (see tests/test_equivalence.py for the proof
against the book's step written out plainly). What makes it fast:
  * G(z) is computed once: D's update does not change G, so the book's second
    G(z) equals the first.
  * D sees real and fake rows in one forward on cat(x, G(z)); no layer mixes
    rows, so this equals two forwards.
  * Backprop is written out by hand. Autograd's per-op bookkeeping costs more
    than the arithmetic of these small layers, and G's step needs no gradient
    for D's weights (the book computes them and throws them away).
  * Data is one preloaded tensor, shuffled once per epoch; Adam is fused.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .config import GANConfig, ConfigError
from .model import build_models

aten = torch.ops.aten


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the weights after that step are not usable."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """`cuda` when available unless asked otherwise; a clear error for a device that is not there."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but this machine has no usable CUDA GPU")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not supported; use cpu, cuda or auto")
    return dev


def make_optimizers(G: nn.Module, D: nn.Module, cfg: GANConfig) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each network, as in the book (defaults except lr); fused where the device allows."""
    kw = dict(betas=(cfg.beta1, cfg.beta2), fused=True)
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, **kw),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, **kw))


def _affine(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    return torch.addmm(layer.bias, x, layer.weight.t())


def _grad_affine(g: torch.Tensor, x: torch.Tensor, layer: nn.Linear) -> None:
    """Write dL/dW = g^T x and dL/db = sum(g) into the layer's .grad buffers."""
    torch.mm(g.t(), x, out=layer.weight.grad)
    torch.sum(g, 0, out=layer.bias.grad)


def _ensure_grads(*nets: nn.Module) -> None:
    for p in (p for net in nets for p in net.parameters()):
        if p.grad is None:
            p.grad = torch.zeros_like(p)


@torch.no_grad()
def gan_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2) -> torch.Tensor:
    """One step of the book: update D, then G with the same z. Returns [d_loss, g_loss, D(x), D(G(z))].

    x: (B, 784) real images in [-1, 1]; z: (B, latent). D(G(z)) is measured before D's update,
    as the book prints it.
    """
    B = x.shape[0]
    G1, G2, G3 = G[0], G[2], G[4]
    D1, D2, D3 = D[0], D[2], D[4]
    _ensure_grads(G, D)

    # ---- G(z), once --------------------------------------------------------
    a1 = _affine(z, G1).relu_()          # (B, H)
    a2 = _affine(a1, G2).relu_()         # (B, H)
    fake = _affine(a2, G3).tanh_()       # (B, 784)

    # ---- update D: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) -------------------
    X = torch.cat((x, fake))             # (2B, 784): real rows, then fake rows
    u1 = _affine(X, D1)                  # (2B, H)
    s1 = F.leaky_relu(u1, leaky_slope)
    u2 = _affine(s1, D2)                 # (2B, H)
    s2 = F.leaky_relu(u2, leaky_slope)
    logit = _affine(s2, D3)              # (2B, 1)
    p = torch.sigmoid(logit)
    # d/dlogit of BCE(sigmoid(l), y) is sigmoid(l) - y; each term is a mean over B rows.
    target = torch.zeros_like(p)
    target[:B] = 1.0
    g = (p - target).div_(B)             # (2B, 1)
    _grad_affine(g, s2, D3)
    g = aten.leaky_relu_backward(g @ D3.weight, u2, leaky_slope, False)
    _grad_affine(g, s1, D2)
    g = aten.leaky_relu_backward(g @ D2.weight, u1, leaky_slope, False)
    _grad_affine(g, X, D1)
    opt_d.step()

    # ---- update G: minimise BCE(D(G(z)), 1) through the updated D -----------
    v1 = _affine(fake, D1)               # (B, H)
    t1 = F.leaky_relu(v1, leaky_slope)
    v2 = _affine(t1, D2)
    t2 = F.leaky_relu(v2, leaky_slope)
    logit_g = _affine(t2, D3)            # (B, 1)
    g = torch.sigmoid(logit_g).sub_(1.0).div_(B)
    # Back through D to its input only: D's weight gradients would be discarded.
    g = aten.leaky_relu_backward(g @ D3.weight, v2, leaky_slope, False)
    g = aten.leaky_relu_backward(g @ D2.weight, v1, leaky_slope, False)
    g = aten.tanh_backward(g @ D1.weight, fake)          # (B, 784)
    _grad_affine(g, a2, G3)
    g = aten.threshold_backward(g @ G3.weight, a2, 0)
    _grad_affine(g, a1, G2)
    g = aten.threshold_backward(g @ G2.weight, a1, 0)
    _grad_affine(g, z, G1)
    opt_g.step()

    # BCE(sigmoid(l), 1) = softplus(-l) and BCE(sigmoid(l), 0) = softplus(l), without log(0).
    d_loss = F.softplus(-logit[:B]).mean() + F.softplus(logit[B:]).mean()
    g_loss = F.softplus(-logit_g).mean()
    return torch.stack((d_loss, g_loss, p[:B].mean(), p[B:].mean()))


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

    @property
    def stopped(self) -> bool:
        return self._stopped

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

    def __init__(self, cfg: GANConfig, images: torch.Tensor, device: str | torch.device | None = None,
                 sync_every: int | None = None) -> None:
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
        self.sync_every = sync_every or (1 if self.device.type == "cpu" else 50)

    @property
    def steps_per_epoch(self) -> int:
        # The last, partial batch is kept so every image is seen each epoch.
        return math.ceil(len(self.x) / self.cfg.batch_size)

    def _epoch_batches(self) -> Iterator[torch.Tensor]:
        perm = torch.randperm(len(self.x), generator=self.perm_gen).to(self.device)
        shuffled = self.x[perm]  # one gather an epoch, then contiguous slices
        for i in range(0, len(shuffled), self.cfg.batch_size):
            yield shuffled[i:i + self.cfg.batch_size]

    def run(self, control: TrainControl | None = None, epochs: int | None = None) -> Iterator[StepEvent | EpochEvent]:
        """Train up to `epochs` total epochs (default cfg.epochs), yielding step and epoch events.

        Raises TrainingDiverged if a loss stops being finite.
        """
        cfg, control = self.cfg, control or TrainControl()
        last_epoch = cfg.epochs if epochs is None else epochs
        while self.epoch < last_epoch:
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
