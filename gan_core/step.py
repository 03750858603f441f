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

For teaching, the fast step also comes in halves: `d_step` (only D's update) and
`g_step` (only G's update; after a `d_step` with the same z, the two make one
`gan_step`), and `measure_gan` gives a step's four numbers without an update.
G's loss is the book's, or the original GAN paper's minimax one (g_loss="minimax"):
    book     G minimises BCE(D(G(z)), 1) = -mean log D(G(z))       (non-saturating)
    minimax  G minimises mean log(1 - D(G(z))) = -BCE(D(G(z)), 0)   (saturating: its gradient
             through D's logit is -D(G(z)), which vanishes while D rejects G's images)
Either way the g_loss reported is the quantity G minimises; for minimax it is <= 0, and
near 0 while D wins.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import G_LOSSES, GANConfig


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


def _g_forward(G: nn.Sequential, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """G(z) and the activations its backward needs: (a1, a2, fake)."""
    a1 = _affine(z, G[0]).relu_()        # (B, H)
    a2 = _affine(a1, G[2]).relu_()       # (B, H)
    fake = _affine(a2, G[4]).tanh_()     # (B, 784)
    return a1, a2, fake


def _d_forward(D: nn.Sequential, X: torch.Tensor, slope: float) -> tuple[torch.Tensor, ...]:
    """D's pre-sigmoid output and the activations its backward needs: (u1, s1, u2, s2, logit)."""
    u1 = _affine(X, D[0])                # (N, H)
    s1 = F.leaky_relu(u1, slope)
    u2 = _affine(s1, D[2])               # (N, H)
    s2 = F.leaky_relu(u2, slope)
    return u1, s1, u2, s2, _affine(s2, D[4])   # logit: (N, 1)


def _d_update(D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor, fake: torch.Tensor,
              slope: float) -> tuple[torch.Tensor, torch.Tensor]:
    """D's update on real rows x and fake rows G(z); returns D's (logit, p) on cat(x, fake), before the update."""
    B = x.shape[0]
    D1, D2, D3 = D[0], D[2], D[4]
    X = torch.cat((x, fake))             # (2B, 784): real rows, then fake rows
    u1, s1, u2, s2, logit = _d_forward(D, X, slope)
    p = torch.sigmoid(logit)
    # d/dlogit of BCE(sigmoid(l), y) is sigmoid(l) - y; each term is a mean over B rows.
    target = torch.zeros_like(p)
    target[:B] = 1.0
    g = (p - target).div_(B)             # (2B, 1)
    _grad_affine(g, s2, D3)
    g = _leaky_grad(g @ D3.weight, u2, slope)
    _grad_affine(g, s1, D2)
    g = _leaky_grad(g @ D2.weight, u1, slope)
    _grad_affine(g, X, D1)
    opt_d.step()
    return logit, p


def _g_update(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, z: torch.Tensor,
              acts: tuple[torch.Tensor, torch.Tensor, torch.Tensor], slope: float, g_loss: str) -> torch.Tensor:
    """G's update through D as it stands, from G's forward `acts` on z; returns D's logit on G(z), before it."""
    a1, a2, fake = acts
    B = z.shape[0]
    G1, G2, G3 = G[0], G[2], G[4]
    D1, D2, D3 = D[0], D[2], D[4]
    v1, _, v2, _, logit_g = _d_forward(D, fake, slope)   # (B, 1)
    if g_loss == "book":
        # d/dl BCE(sigmoid(l), 1) = sigmoid(l) - 1: near -1 while D rejects G(z), so G still learns.
        g = torch.sigmoid(logit_g).sub_(1.0).div_(B)
    else:
        # d/dl log(1 - sigmoid(l)) = -sigmoid(l): near 0 while D rejects G(z), so G barely moves.
        g = torch.sigmoid(logit_g).neg_().div_(B)
    # Back through D to its input only: D's weight gradients would be discarded.
    g = _leaky_grad(g @ D3.weight, v2, slope)
    g = _leaky_grad(g @ D2.weight, v1, slope)
    g = (g @ D1.weight).mul_(1 - fake * fake)            # tanh' = 1 - tanh^2; (B, 784)
    _grad_affine(g, a2, G3)
    g = (g @ G3.weight).masked_fill_(a2 <= 0, 0.0)        # ReLU passes the gradient only where it was on
    _grad_affine(g, a1, G2)
    g = (g @ G2.weight).masked_fill_(a1 <= 0, 0.0)
    _grad_affine(g, z, G1)
    opt_g.step()
    return logit_g


# BCE(sigmoid(l), 1) = softplus(-l) and BCE(sigmoid(l), 0) = softplus(l), without log(0).
def _d_objective(logit: torch.Tensor, B: int) -> torch.Tensor:
    return F.softplus(-logit[:B]).mean() + F.softplus(logit[B:]).mean()


def _g_objective(logit_g: torch.Tensor, g_loss: str) -> torch.Tensor:
    """What G minimises: BCE(D(G(z)), 1) for the book; mean log(1 - D(G(z))) = -BCE(D(G(z)), 0) for minimax."""
    return F.softplus(-logit_g).mean() if g_loss == "book" else F.softplus(logit_g).mean().neg_()


def _check_g_loss(g_loss: str) -> None:
    if g_loss not in G_LOSSES:
        raise ValueError(f"g_loss must be one of {G_LOSSES}, got {g_loss!r}")


@torch.no_grad()
def gan_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2, g_loss: str = "book") -> torch.Tensor:
    """`book_step`'s maths, fast. Returns [d_loss, g_loss, D(x), D(G(z))].

    x: (B, 784) real images in [-1, 1]; z: (B, latent). D(G(z)) is measured before D's update,
    as the book prints it. g_loss="minimax" swaps G's loss for the GAN paper's (see the module's docstring).
    """
    _check_g_loss(g_loss)
    B = x.shape[0]
    _ensure_grads(G, D)
    acts = _g_forward(G, z)              # G(z), once: D's update does not change G

    # ---- update D: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) -------------------
    logit, p = _d_update(D, opt_d, x, acts[2], leaky_slope)

    # ---- update G: minimise BCE(D(G(z)), 1) (or log(1 - D(G(z)))) through the updated D
    logit_g = _g_update(G, D, opt_g, z, acts, leaky_slope, g_loss)
    return torch.stack((_d_objective(logit, B), _g_objective(logit_g, g_loss), p[:B].mean(), p[B:].mean()))


@torch.no_grad()
def d_step(G: nn.Sequential, D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor, z: torch.Tensor,
           leaky_slope: float = 0.2) -> torch.Tensor:
    """Only D's update (minimise BCE(D(x), 1) + BCE(D(G(z)), 0)). Returns [d_loss, D(x), D(G(z))] before it."""
    B = x.shape[0]
    _ensure_grads(D)
    logit, p = _d_update(D, opt_d, x, _g_forward(G, z)[2], leaky_slope)
    return torch.stack((_d_objective(logit, B), p[:B].mean(), p[B:].mean()))


@torch.no_grad()
def g_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, z: torch.Tensor,
           leaky_slope: float = 0.2, g_loss: str = "book") -> torch.Tensor:
    """Only G's update, through D as it stands. Returns [g_loss, D(G(z))] before it.

    With the z of a `d_step` just before it, the two are one `gan_step`."""
    _check_g_loss(g_loss)
    _ensure_grads(G)
    logit_g = _g_update(G, D, opt_g, z, _g_forward(G, z), leaky_slope, g_loss)
    return torch.stack((_g_objective(logit_g, g_loss), torch.sigmoid(logit_g).mean()))


@torch.no_grad()
def measure_gan(G: nn.Sequential, D: nn.Sequential, x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2,
                g_loss: str = "book") -> torch.Tensor:
    """[d_loss, g_loss, D(x), D(G(z))] on (x, z) as the networks stand now, with no update."""
    _check_g_loss(g_loss)
    B = x.shape[0]
    logit = _d_forward(D, torch.cat((x, _g_forward(G, z)[2])), leaky_slope)[-1]   # (2B, 1)
    p = torch.sigmoid(logit)
    return torch.stack((_d_objective(logit, B), _g_objective(logit[B:], g_loss), p[:B].mean(), p[B:].mean()))
