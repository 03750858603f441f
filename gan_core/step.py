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
  * The loss is the book's BCELoss to the last rounding, clamps included: PyTorch's
    BCELoss clamps log at -100 and divides its gradient by max(p(1-p), 1e-12), which
    scales the gradient down once a logit passes about +-27.6 (to zero once p rounds
    to exactly 0 or 1). The fast step calls the same two kernels autograd calls there
    (BCELoss's backward, then Sigmoid's), so it matches the book also where D saturates.
  * precision="bf16" runs the matrix products in bfloat16 (gan_core/precision.py);
    weights, gradients and Adam's state stay float32.

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
from torch.optim import optimizer as optim_hooks

from .config import G_LOSSES, GANConfig
from .precision import compute_dtype

aten = torch.ops.aten
_SUM = 2            # at::Reduction::Sum, for aten.binary_cross_entropy_backward


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


def _adam_step(opt: torch.optim.Optimizer) -> None:
    """opt.step() for make_optimizers' fused Adam: the same kernel, without Optimizer.step's per-call
    bookkeeping (hooks, profiler labels, grouping tensors by device), which costs as much as the
    kernel itself at these sizes. Anything else (a first step, several groups, other options, hooks)
    takes opt.step()."""
    group = opt.param_groups[0] if len(opt.param_groups) == 1 else None
    if (group is None or not group.get("fused") or group["amsgrad"] or group["maximize"] or group["capturable"]
            or group["differentiable"] or group.get("decoupled_weight_decay") or torch.is_tensor(group["lr"])
            or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
            or optim_hooks._global_optimizer_pre_hooks or optim_hooks._global_optimizer_post_hooks):
        opt.step()
        return
    params = group["params"]
    states = [opt.state.get(p) for p in params]
    if not all(states) or any(p.grad is None for p in params):
        opt.step()                        # creates the state on the first step
        return
    steps = [st["step"] for st in states]
    torch._foreach_add_(steps, 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_(params, [p.grad for p in params], [st["exp_avg"] for st in states],
                       [st["exp_avg_sq"] for st in states], [], steps, lr=group["lr"], beta1=beta1,
                       beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], amsgrad=False,
                       maximize=False)


# ---- the fast step's pieces -----------------------------------------------------------------
# A network's three Linear layers as (weight, bias) in the dtype the GEMMs use: the parameters
# themselves in fp32, bfloat16 copies under bf16 (made once per half-step, after the last update).
Weights = list[tuple[torch.Tensor, torch.Tensor]]


def _weights(net: nn.Sequential, dtype: torch.dtype) -> Weights:
    return [(net[i].weight.to(dtype), net[i].bias.to(dtype)) for i in (0, 2, 4)]


def _grad_affine(g: torch.Tensor, a: torch.Tensor, layer: nn.Linear) -> None:
    """Write dL/dW = g^T a and dL/db = sum(g) into the layer's float32 .grad buffers."""
    W, b = layer.weight.grad, layer.bias.grad
    if g.dtype == W.dtype:
        torch.mm(g.t(), a, out=W)
    else:
        W.copy_(g.t() @ a)               # a bfloat16 GEMM, kept as a float32 gradient
    torch.sum(g, 0, dtype=b.dtype, out=b)


def _bce_grad(p: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
    """d/dlogit of scale * sum_i BCELoss(p_i, target_i), p = sigmoid(logit), computed as autograd does for the book.

    BCELoss's backward gives scale * (p - y) / max(p(1-p), 1e-12) and Sigmoid's multiplies by p(1-p):
    the exact p - y where D is unsure, less (zero once p rounds to 0 or 1) where a logit passes +-27.6."""
    g = aten.binary_cross_entropy_backward(p.new_full((), scale), p, target, None, _SUM)
    return aten.sigmoid_backward(g, p)


def _targets(B: int, like: torch.Tensor) -> torch.Tensor:
    """BCE's labels for D's 2B rows: real (1) then fake (0)."""
    y = torch.zeros(2 * B, 1, dtype=like.dtype, device=like.device)
    y[:B] = 1.0
    return y


def _g_forward(Gw: Weights, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """G(z) and the activations its backward needs: (a1, a2, fake)."""
    (W1, b1), (W2, b2), (W3, b3) = Gw
    a1 = torch.addmm(b1, z, W1.t()).relu_()       # (B, H)
    a2 = torch.addmm(b2, a1, W2.t()).relu_()      # (B, H)
    fake = torch.addmm(b3, a2, W3.t()).tanh_()    # (B, 784)
    return a1, a2, fake


def _d_forward(Dw: Weights, X: torch.Tensor, slope: float) -> tuple[torch.Tensor, ...]:
    """D's pre-sigmoid output and the activations its backward needs: (u1, s1, u2, s2, logit)."""
    (W1, b1), (W2, b2), (W3, b3) = Dw
    u1 = torch.addmm(b1, X, W1.t())               # (N, H)
    s1 = F.leaky_relu(u1, slope)
    u2 = torch.addmm(b2, s1, W2.t())              # (N, H)
    s2 = F.leaky_relu(u2, slope)
    return u1, s1, u2, s2, torch.addmm(b3, s2, W3.t())   # logit: (N, 1)


def _d_update(D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor, fake: torch.Tensor,
              slope: float) -> torch.Tensor:
    """D's update on real rows x and fake rows G(z) (in the GEMMs' dtype); returns D's p on cat(x, fake), before it."""
    B = x.shape[0]
    Dw = _weights(D, fake.dtype)
    (_, _), (W2, _), (W3, _) = Dw
    X = torch.cat((x.to(fake.dtype), fake))       # (2B, 784): real rows, then fake rows
    u1, s1, u2, s2, logit = _d_forward(Dw, X, slope)
    p = torch.sigmoid(logit.to(D[0].weight.dtype))   # (2B, 1); the loss in the parameters' dtype
    # Each of the book's two BCE terms is a mean over B rows.
    g = _bce_grad(p, _targets(B, p), 1.0 / B).to(X.dtype)
    _grad_affine(g, s2, D[4])
    g = aten.leaky_relu_backward(g @ W3, u2, slope, False)
    _grad_affine(g, s1, D[2])
    g = aten.leaky_relu_backward(g @ W2, u1, slope, False)
    _grad_affine(g, X, D[0])
    _adam_step(opt_d)
    return p


def _g_update(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, z: torch.Tensor, Gw: Weights,
              acts: tuple[torch.Tensor, torch.Tensor, torch.Tensor], slope: float, g_loss: str) -> torch.Tensor:
    """G's update through D as it stands, from G's forward `acts` on z; returns D's p on G(z), before it."""
    a1, a2, fake = acts
    B = z.shape[0]
    Dw = _weights(D, fake.dtype)                  # D after its update
    (W1, _), (W2, _), (W3, _) = Dw
    v1, _, v2, _, logit = _d_forward(Dw, fake, slope)
    p = torch.sigmoid(logit.to(D[0].weight.dtype))   # (B, 1)
    if g_loss == "book":
        # BCE(D(G(z)), 1): its gradient p - 1 is near -1 while D rejects G(z), so G still learns.
        g = _bce_grad(p, torch.ones_like(p), 1.0 / B)
    else:
        # log(1 - D(G(z))) = -BCE(D(G(z)), 0): its gradient -p is near 0 while D rejects G(z).
        g = _bce_grad(p, torch.zeros_like(p), -1.0 / B)
    # Back through D to its input only: D's weight gradients would be discarded.
    g = aten.leaky_relu_backward(g.to(fake.dtype) @ W3, v2, slope, False)
    g = aten.leaky_relu_backward(g @ W2, v1, slope, False)
    g = aten.tanh_backward(g @ W1, fake)                    # (B, 784)
    _grad_affine(g, a2, G[4])
    g = aten.threshold_backward(g @ Gw[2][0], a2, 0.0)      # ReLU passes the gradient only where it was on
    _grad_affine(g, a1, G[2])
    g = aten.threshold_backward(g @ Gw[1][0], a1, 0.0)
    _grad_affine(g, z, G[0])
    _adam_step(opt_g)
    return p


def _bce(p: torch.Tensor, real: bool) -> torch.Tensor:
    """The book's BCELoss(p, 1 if real else 0): -mean log p or -mean log(1 - p), each log clamped at -100 as
    PyTorch's is. Written out because F.binary_cross_entropy refuses a NaN p, which must instead reach
    the trainer's divergence check."""
    return (p if real else 1 - p).log().clamp_(min=-100.0).mean().neg_()


def _d_objective(p: torch.Tensor, B: int) -> torch.Tensor:
    return _bce(p[:B], True) + _bce(p[B:], False)


def _g_objective(p: torch.Tensor, g_loss: str) -> torch.Tensor:
    """What G minimises: BCE(D(G(z)), 1) for the book; mean log(1 - D(G(z))) = -BCE(D(G(z)), 0) for minimax."""
    return _bce(p, True) if g_loss == "book" else _bce(p, False).neg_()


def _check_g_loss(g_loss: str) -> None:
    if g_loss not in G_LOSSES:
        raise ValueError(f"g_loss must be one of {G_LOSSES}, got {g_loss!r}")


def _ensure_grads(*nets: nn.Module) -> None:
    for p in (p for net in nets for p in net.parameters()):
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def _inputs(G: nn.Sequential, z: torch.Tensor, precision: str) -> tuple[Weights, torch.Tensor]:
    """G's weights and z in the GEMMs' dtype."""
    dtype = compute_dtype(precision, G[0].weight.dtype)
    return _weights(G, dtype), z.to(dtype)


@torch.no_grad()
def gan_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2, g_loss: str = "book",
             precision: str = "fp32") -> torch.Tensor:
    """`book_step`'s maths, fast. Returns [d_loss, g_loss, D(x), D(G(z))].

    x: (B, 784) real images in [-1, 1]; z: (B, latent). D(G(z)) is measured before D's update,
    as the book prints it. g_loss="minimax" swaps G's loss for the GAN paper's (see the module's docstring).
    precision="bf16" runs the GEMMs in bfloat16 (check gan_core.precision.bf16_available first).
    """
    _check_g_loss(g_loss)
    B = x.shape[0]
    _ensure_grads(G, D)
    Gw, z = _inputs(G, z, precision)
    acts = _g_forward(Gw, z)             # G(z), once: D's update does not change G

    # ---- update D: minimise BCE(D(x), 1) + BCE(D(G(z)), 0) -------------------
    p = _d_update(D, opt_d, x, acts[2], leaky_slope)

    # ---- update G: minimise BCE(D(G(z)), 1) (or log(1 - D(G(z)))) through the updated D
    p_g = _g_update(G, D, opt_g, z, Gw, acts, leaky_slope, g_loss)
    return torch.stack((_d_objective(p, B), _g_objective(p_g, g_loss), p[:B].mean(), p[B:].mean()))


@torch.no_grad()
def d_step(G: nn.Sequential, D: nn.Sequential, opt_d: torch.optim.Optimizer, x: torch.Tensor, z: torch.Tensor,
           leaky_slope: float = 0.2, precision: str = "fp32") -> torch.Tensor:
    """Only D's update (minimise BCE(D(x), 1) + BCE(D(G(z)), 0)). Returns [d_loss, D(x), D(G(z))] before it."""
    B = x.shape[0]
    _ensure_grads(D)
    p = _d_update(D, opt_d, x, _g_forward(*_inputs(G, z, precision))[2], leaky_slope)
    return torch.stack((_d_objective(p, B), p[:B].mean(), p[B:].mean()))


@torch.no_grad()
def g_step(G: nn.Sequential, D: nn.Sequential, opt_g: torch.optim.Optimizer, z: torch.Tensor,
           leaky_slope: float = 0.2, g_loss: str = "book", precision: str = "fp32") -> torch.Tensor:
    """Only G's update, through D as it stands. Returns [g_loss, D(G(z))] before it.

    With the z of a `d_step` just before it, the two are one `gan_step`."""
    _check_g_loss(g_loss)
    _ensure_grads(G)
    Gw, z = _inputs(G, z, precision)
    p_g = _g_update(G, D, opt_g, z, Gw, _g_forward(Gw, z), leaky_slope, g_loss)
    return torch.stack((_g_objective(p_g, g_loss), p_g.mean()))


@torch.no_grad()
def measure_gan(G: nn.Sequential, D: nn.Sequential, x: torch.Tensor, z: torch.Tensor, leaky_slope: float = 0.2,
                g_loss: str = "book", precision: str = "fp32") -> torch.Tensor:
    """[d_loss, g_loss, D(x), D(G(z))] on (x, z) as the networks stand now, with no update."""
    _check_g_loss(g_loss)
    B = x.shape[0]
    Gw, z = _inputs(G, z, precision)
    fake = _g_forward(Gw, z)[2]
    logit = _d_forward(_weights(D, fake.dtype), torch.cat((x.to(fake.dtype), fake)), leaky_slope)[-1]
    p = torch.sigmoid(logit.to(D[0].weight.dtype))   # (2B, 1)
    return torch.stack((_d_objective(p, B), _g_objective(p[B:], g_loss), p[:B].mean(), p[B:].mean()))
