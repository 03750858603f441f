"""One training step of chapter 14's GAN, twice: as the book writes it, and fast.

`book_step` is the chapter's loop body, autograd and `nn.BCELoss`, to read beside
the book. `gan_step` computes the same numbers (tests/test_equivalence.py holds
them equal) with less work:
  * G(z) is computed once: D's update does not change G, so the book's second
    G(z) equals the first.
  * D sees real and fake rows in one forward on cat(x, G(z)); no layer mixes
    rows, so this equals two forwards.
  * Backprop is written out by hand. Autograd's per-op bookkeeping costs more
    than the arithmetic of these small layers, and G's step needs no gradient
    for D's weights (the book computes them and throws them away).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import GANConfig


def make_optimizers(G: nn.Module, D: nn.Module, cfg: GANConfig) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for each network, as in the book (defaults except lr); fused where the device allows."""
    kw = dict(betas=(cfg.beta1, cfg.beta2), fused=True)
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, **kw),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, **kw))


def book_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
              x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The chapter's step as written: update D, then G with the same z. Returns [d_loss, g_loss, D(x), D(G(z))]."""
    criterion = nn.BCELoss()
    real_labels = torch.ones(len(x), 1, dtype=x.dtype, device=x.device)
    fake_labels = torch.zeros(len(x), 1, dtype=x.dtype, device=x.device)

    # ---- update D: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) -------------------
    real_score = D(x)
    fake_score = D(G(z))
    d_loss = criterion(real_score, real_labels) + criterion(fake_score, fake_labels)
    opt_d.zero_grad()
    opt_g.zero_grad()
    d_loss.backward()
    opt_d.step()

    # ---- update G: minimise BCE(D(G(z)), 1) through the updated D ------------
    g_loss = criterion(D(G(z)), real_labels)
    opt_d.zero_grad()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return torch.stack((d_loss, g_loss, real_score.mean(), fake_score.mean())).detach()


def _affine(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    return torch.addmm(layer.bias, x, layer.weight.t())


def _grad_affine(g: torch.Tensor, x: torch.Tensor, layer: nn.Linear) -> None:
    """Write dL/dW = g^T x and dL/db = sum(g) into the layer's .grad buffers."""
    torch.mm(g.t(), x, out=layer.weight.grad)
    torch.sum(g, 0, out=layer.bias.grad)


def _leaky_grad(g: torch.Tensor, u: torch.Tensor, slope: float) -> torch.Tensor:
    """Through LeakyReLU(u): the gradient passes where u > 0 and is scaled by the slope elsewhere.

    That is torch.where(u > 0, g, slope * g); PyTorch's own backward kernel does it in one pass
    without the two temporaries, which measured about 10% of a whole step here."""
    return torch.ops.aten.leaky_relu_backward(g, u, slope, False)


def _ensure_grads(*nets: nn.Module) -> None:
    for p in (p for net in nets for p in net.parameters()):
        if p.grad is None:
            p.grad = torch.zeros_like(p)


@torch.no_grad()
def gan_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2) -> torch.Tensor:
    """`book_step`'s maths, fast. Returns [d_loss, g_loss, D(x), D(G(z))].

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
    g = _leaky_grad(g @ D3.weight, u2, leaky_slope)
    _grad_affine(g, s1, D2)
    g = _leaky_grad(g @ D2.weight, u1, leaky_slope)
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
    g = _leaky_grad(g @ D3.weight, v2, leaky_slope)
    g = _leaky_grad(g @ D2.weight, v1, leaky_slope)
    g = (g @ D1.weight).mul_(1 - fake * fake)            # tanh' = 1 - tanh^2; (B, 784)
    _grad_affine(g, a2, G3)
    g = (g @ G3.weight).masked_fill_(a2 <= 0, 0.0)        # ReLU passes the gradient only where it was on
    _grad_affine(g, a1, G2)
    g = (g @ G2.weight).masked_fill_(a1 <= 0, 0.0)
    _grad_affine(g, z, G1)
    opt_g.step()

    # BCE(sigmoid(l), 1) = softplus(-l) and BCE(sigmoid(l), 0) = softplus(l), without log(0).
    d_loss = F.softplus(-logit[:B]).mean() + F.softplus(logit[B:]).mean()
    g_loss = F.softplus(-logit_g).mean()
    return torch.stack((d_loss, g_loss, p[:B].mean(), p[B:].mean()))
