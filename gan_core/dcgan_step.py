"""The DCGAN's training step: plain autograd, with the same four functions and numbers as gan_core/step.py.

The recipe is the book's (BCE, D's update then G's with the same z, G's non-saturating
or the minimax loss) written as the DCGAN reference writes it:
  * G(z) is computed once per step; D's update sees it detached, G's update goes
    back through it and through the updated D.
  * D sees the real batch and the fake batch in two forwards, not one: batch norm
    normalises over the batch, and the reference keeps real and fake statistics apart.
Batch norm runs in training mode throughout (batch statistics). What only looks, and
not learns, leaves the running statistics as they were: `measure_gan`, and G's forward
in `d_step` (G is not being updated there); so `d_step` then `g_step` with the same z
leave the same weights and statistics as one `gan_step`.

Returns are as in step.py: gan_step [d_loss, g_loss, D(x), D(G(z))], with D(G(z)) before
D's update; d_step [d_loss, D(x), D(G(z))]; g_step [g_loss, D(G(z))]; measure_gan all four.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .config import G_LOSSES


def _logit(D: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """D's output before its Sigmoid: BCE from logits never takes log(0)."""
    return D[:-1](x)


def _d_objective(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    # BCE(sigmoid(l), 1) = softplus(-l), BCE(sigmoid(l), 0) = softplus(l)
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _g_objective(logit_g: torch.Tensor, g_loss: str) -> torch.Tensor:
    """What G minimises: BCE(D(G(z)), 1) for the book, mean log(1 - D(G(z))) for minimax."""
    if g_loss not in G_LOSSES:
        raise ValueError(f"g_loss must be one of {G_LOSSES}, got {g_loss!r}")
    return F.softplus(-logit_g).mean() if g_loss == "book" else -F.softplus(logit_g).mean()


@contextmanager
def statistics_kept(*nets: nn.Module):
    """Run in training mode (batch statistics) but restore batch norm's running statistics afterwards."""
    saved = [(b, b.clone()) for net in nets for b in net.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, copy in saved:
                b.copy_(copy)


def _d_update(D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor,
              fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    real_logit, fake_logit = _logit(D, x), _logit(D, fake.detach())
    d_loss = _d_objective(real_logit, fake_logit)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    return d_loss.detach(), torch.sigmoid(real_logit).mean().detach(), torch.sigmoid(fake_logit).mean().detach()


def _g_update(D: nn.Sequential, opt_g: torch.optim.Optimizer, fake: torch.Tensor,
              g_loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    opt_g.zero_grad(set_to_none=True)
    # Only G's weights are stepped: with D's frozen for this pass autograd skips their gradients.
    D.requires_grad_(False)
    try:
        logit_g = _logit(D, fake)
        loss = _g_objective(logit_g, g_loss)
        loss.backward()
    finally:
        D.requires_grad_(True)
    opt_g.step()
    return loss.detach(), torch.sigmoid(logit_g).mean().detach()


def gan_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2, g_loss: str = "book",
             precision: str = "fp32") -> torch.Tensor:
    """One step: D's update on x and G(z), then G's through the updated D. [d_loss, g_loss, D(x), D(G(z))].

    leaky_slope and precision are part of the shared signature: the DCGAN's D holds its own LeakyReLU modules,
    and it trains in float32 only (Trainer refuses bf16 for it)."""
    fake = G(z)
    d_loss, d_x, d_g_z = _d_update(D, opt_d, x, fake)
    g, _ = _g_update(D, opt_g, fake, g_loss)
    return torch.stack((d_loss, g, d_x, d_g_z))


def d_step(G: nn.Sequential, D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor, z: torch.Tensor,
           leaky_slope: float = 0.2, precision: str = "fp32") -> torch.Tensor:
    """Only D's update. [d_loss, D(x), D(G(z))] before it."""
    with torch.no_grad(), statistics_kept(G):
        fake = G(z)
    return torch.stack(_d_update(D, opt_d, x, fake))


def g_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, z: torch.Tensor,
           leaky_slope: float = 0.2, g_loss: str = "book", precision: str = "fp32") -> torch.Tensor:
    """Only G's update, through D as it stands. [g_loss, D(G(z))] before it."""
    return torch.stack(_g_update(D, opt_g, G(z), g_loss))


@torch.no_grad()
def measure_gan(G: nn.Sequential, D: nn.Sequential, x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2,
                g_loss: str = "book", precision: str = "fp32") -> torch.Tensor:
    """[d_loss, g_loss, D(x), D(G(z))] on (x, z) as the networks stand, with no update and no statistics changed."""
    with statistics_kept(G, D):
        fake = G(z)
        real_logit, fake_logit = _logit(D, x), _logit(D, fake)
    return torch.stack((_d_objective(real_logit, fake_logit), _g_objective(fake_logit, g_loss),
                        torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean()))
