"""The anatomy of chapter 14's GAN, for teaching: its networks layer by layer, and one training step slowed down.

    from gan_core import layers, step_anatomy, step_inputs
    [(l.in_features, l.out_features, l.params) for l in layers(G)]   # [(64, 256, 16640), (256, 256, 65792), ...]
    [(l.module, l.shape) for l in layer_outputs(G, 64)]               # any G, a DCGAN's 7x7 and 14x14 maps too
    x, z = step_inputs(train_images, cfg, seed=0)                     # one batch, as a run would take it
    a = step_anatomy(G, D, x, z, cfg)                                  # the book's step, on copies
    a.d_real, a.d_real_after                                           # D(x) per image, before and after D's update

`step_anatomy` runs gan_core.book_step itself, on copies of G and D, and looks
at the images and D's scores around it: before the step, between D's update and
G's, and after G's. Given the Adam states a checkpoint saved (Checkpoint.adam),
it takes the step the run would take next; without them it starts a fresh Adam,
as the book's first step does. The caller's models and states are never touched.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import dcgan_step
from .config import GANConfig
from .latent import to_uint8, z_from_seed
from .model import build_discriminator, build_generator
from .step import book_step, make_optimizers


# ---- the networks ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """One Linear layer of an MLP, with the activation that follows it."""

    in_features: int
    out_features: int
    params: int          # weights and biases: in * out + out
    activation: str      # the module after it, as PyTorch prints it ("ReLU", "LeakyReLU(0.2)"); "" if none


def _activation_name(m: nn.Module) -> str:
    if isinstance(m, nn.LeakyReLU):
        return f"LeakyReLU({m.negative_slope:g})"
    return type(m).__name__


def layers(net: nn.Module) -> list[Layer]:
    """The Linear layers of an MLP (an nn.Sequential, as the book builds G and D), in order."""
    mods = [m for m in net.modules() if not any(True for _ in m.children())]   # the leaves, in order
    out = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            after = mods[i + 1] if i + 1 < len(mods) and not isinstance(mods[i + 1], nn.Linear) else None
            out.append(Layer(m.in_features, m.out_features, sum(p.numel() for p in m.parameters()),
                             _activation_name(after) if after is not None else ""))
    return out


@dataclass(frozen=True)
class LayerOutput:
    """One module of a network, as the call that builds it, with what it outputs for one input."""

    module: str                 # the call that builds it: "ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False)"
    shape: tuple[int, ...]      # its output for one input, without the batch: (64, 14, 14)
    params: int                 # its learned parameters (batch norm's running statistics are not)


def _square(v: tuple[int, ...]) -> int | tuple[int, ...]:
    """A square kernel's size (or stride, padding) as the one number PyTorch accepts for it."""
    return v[0] if len(set(v)) == 1 else v


def constructor(m: nn.Module) -> str:
    """A module as the call that builds it, without PyTorch's defaults: "ConvTranspose2d(128, 64, 4, stride=2,
    padding=1, bias=False)" rather than its repr's kernel_size=(4, 4), ... (short enough for a table's cell)."""
    name = type(m).__name__
    if isinstance(m, nn.Linear):
        return f"{name}({m.in_features}, {m.out_features}{'' if m.bias is not None else ', bias=False'})"
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return (f"{name}({m.in_channels}, {m.out_channels}, {_square(m.kernel_size)}, stride={_square(m.stride)}, "
                f"padding={_square(m.padding)}{'' if m.bias is not None else ', bias=False'})")
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return f"{name}({m.num_features})"
    if isinstance(m, nn.LeakyReLU):
        return f"{name}({m.negative_slope:g})"
    if isinstance(m, nn.Unflatten):
        return f"{name}({m.dim}, {tuple(m.unflattened_size)})"
    if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) == (1, -1):
        return f"{name}()"
    return f"{name}()" if not m.extra_repr() else repr(m)


@torch.no_grad()
def layer_outputs(net: nn.Sequential, input_dim: int) -> list[LayerOutput]:
    """Each module of `net` in order, with the shape it outputs: any architecture, a DCGAN's maps included.

    Found by passing one zero input through a copy in evaluation mode, so the caller's network and its batch
    norm statistics are untouched."""
    x = torch.zeros(1, input_dim, device=next(net.parameters()).device)
    out = []
    for m in copy.deepcopy(net).eval():
        x = m(x)
        out.append(LayerOutput(constructor(m), tuple(x.shape[1:]), sum(p.numel() for p in m.parameters())))
    return out


def config_layers(cfg: GANConfig) -> tuple[list[Layer], list[Layer]]:
    """G's and D's layers as cfg builds them: for a file that holds only G, D's shape is still known."""
    with torch.device("meta"):   # shapes only: no memory, no initialisation
        return layers(build_generator(cfg)), layers(build_discriminator(cfg))


# ---- one step, slowed down ------------------------------------------------------------------

@dataclass(frozen=True)
class StepAnatomy:
    """One training step of the book's GAN, seen from inside. Images are uint8 (B, size, size); scores (B,).

    D' is D after its update, G' is G after its; the four numbers are the book's printout of that step.
    """

    real: np.ndarray             # x, the real batch
    fake: np.ndarray             # G(z), before the step
    fake_after: np.ndarray       # G'(z), after G's update (the same z)
    d_real: np.ndarray           # D(x), before D's update
    d_fake: np.ndarray           # D(G(z)), before D's update
    d_real_after: np.ndarray     # D'(x)
    d_fake_after: np.ndarray     # D'(G(z)): what G's update starts from
    d_fake_after_g: np.ndarray   # D'(G'(z)): what G's update achieved
    d_loss: float                # BCE(D(x), 1) + BCE(D(G(z)), 0)
    g_loss: float                # BCE(D'(G(z)), 1)
    d_x: float                   # mean of d_real
    d_g_z: float                 # mean of d_fake
    adam_steps: int              # steps in the Adam state the step continued; 0: a fresh Adam
    G: nn.Module                 # the copy of G after the step
    D: nn.Module                 # the copy of D after the step

    @property
    def d_loss_after(self) -> float:
        """D's loss on the same batch after its update: BCE(D'(x), 1) + BCE(D'(G(z)), 0)."""
        return _bce(self.d_real_after, 1) + _bce(self.d_fake_after, 0)

    @property
    def g_loss_after(self) -> float:
        """G's loss after its update: BCE(D'(G'(z)), 1)."""
        return _bce(self.d_fake_after_g, 1)

    @property
    def lowered(self) -> bool:
        """Whether each update lowered its own loss on the batch: D's update D's loss, then G's update G's."""
        return self.d_loss_after < self.d_loss and self.g_loss_after < self.g_loss

    @property
    def printout(self) -> str:
        """The step's numbers as the book's loop prints them at the end of each epoch."""
        return f"d_loss:{self.d_loss:.4f} g_loss: {self.g_loss:.4f} D(x):{self.d_x:.2f} D(G(z)):{self.d_g_z:.2f}"


def _bce(p: np.ndarray, label: int) -> float:
    """nn.BCELoss's mean, in float64, its log clamped at -100 as PyTorch's is."""
    p = p.astype(np.float64)
    with np.errstate(divide="ignore"):
        return float(-np.maximum(np.log(p if label else 1 - p), -100).mean())


def step_inputs(images: torch.Tensor, cfg: GANConfig, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of cfg.batch_size real images (rows of `images`, (N, 784)) and its z, both drawn from seed."""
    g = torch.Generator().manual_seed(int(seed))
    n = min(cfg.batch_size, len(images))
    idx = torch.randperm(len(images), generator=g)[:n]
    return images[idx.to(images.device)], z_from_seed(seed, n, cfg.latent_dim).to(images.device)


def _adam_steps(opt: torch.optim.Optimizer) -> int:
    """How many steps an Adam has taken (0 before its first)."""
    return max((int(s["step"]) for s in opt.state.values() if "step" in s), default=0)


def _scores(D: nn.Module, x: torch.Tensor) -> np.ndarray:
    return D(x).reshape(-1).cpu().numpy()


def step_anatomy(G: nn.Module, D: nn.Module, x: torch.Tensor, z: torch.Tensor, cfg: GANConfig,
                 adam: tuple[dict, dict] | None = None) -> StepAnatomy:
    """gan_core.book_step on copies of G and D (cfg's learning rates), with everything in between.

    adam: the (G's, D's) Adam states saved with the models (Checkpoint.adam), to continue them: on a trained
    model a fresh Adam's first step moves every weight by about the learning rate and often overshoots, while
    the saved running averages take a step like the run's next one. None: a fresh Adam, as at the book's start.

    A DCGAN (cfg.arch) takes its own training step, gan_core.dcgan_step.gan_step. Its batch norm uses the
    batch's statistics throughout, as in training, so that D's scores around the step are the ones the step's
    numbers are means of; looking leaves the running statistics as they were.
    x: (B, 784) real images in [-1, 1]; z: (B, latent_dim).
    """
    G, D = copy.deepcopy(G).requires_grad_(True).train(), copy.deepcopy(D).requires_grad_(True).train()
    opt_g, opt_d = make_optimizers(G, D, cfg)
    if adam is not None:   # the saved moments and step counts; the learning rates and betas stay cfg's
        for opt, saved in zip((opt_g, opt_d), adam):   # copies: Adam updates its state in place, and it is shared
            groups = opt.state_dict()["param_groups"]
            opt.load_state_dict({"state": copy.deepcopy(saved["state"]), "param_groups": groups})
    adam_steps = _adam_steps(opt_d)
    train_step = dcgan_step.gan_step if cfg.arch == "dcgan" else book_step
    size = cfg.image_size
    with torch.no_grad(), dcgan_step.statistics_kept(G, D):
        fake = G(z)                                   # (B, 784)
        d_real, d_fake = _scores(D, x), _scores(D, fake)

    # The book's step: D's update, then G's with the same z through the updated D.
    d_loss, g_loss, d_x, d_g_z = train_step(G, D, opt_g, opt_d, x, z).tolist()

    # G's update leaves D as its own update left it, so D here is D'.
    with torch.no_grad(), dcgan_step.statistics_kept(G, D):
        fake_after = G(z)
        d_real_after, d_fake_after, d_fake_after_g = _scores(D, x), _scores(D, fake), _scores(D, fake_after)
    return StepAnatomy(to_uint8(x, size), to_uint8(fake, size), to_uint8(fake_after, size),
                       d_real, d_fake, d_real_after, d_fake_after, d_fake_after_g,
                       d_loss, g_loss, d_x, d_g_z, adam_steps,
                       G.requires_grad_(False).eval(), D.requires_grad_(False).eval())


# ---- where training settles -----------------------------------------------------------------

# The game's equilibrium (Goodfellow et al. 2014): G draws the real distribution and D, unable to
# tell, answers 1/2 everywhere; each BCE term is then ln 2.
EQUILIBRIUM = {"d_x": 0.5, "d_g_z": 0.5, "d_loss": 2 * math.log(2), "g_loss": math.log(2)}


def settled(history: dict[str, list[float]], last: int = 100) -> dict[str, float]:
    """d_loss, g_loss, d_x and d_g_z averaged over a run's last `last` epochs, from its per-epoch history.

    Epoch means ("mean_d_x", ...) where the history has them; else the book's printout of each
    epoch's last batch ("d_x", ...), which older histories hold.
    """
    out = {}
    for k in EQUILIBRIUM:
        ys = history.get("mean_" + k) or history.get(k)
        if ys:
            out[k] = float(np.mean(ys[-last:]))
    return out
