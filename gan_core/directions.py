"""Main directions in z that change G's pictures the most, and a labeller that says what each one does.

Two closed-form ways to find them, both for the book's MLP G (first layer Linear(64, 256)):

SeFa (Shen and Zhou, CVPR 2021) needs no samples: normalise each row of the first
layer's weight W (256, 64) to unit length, giving A; the directions are the
eigenvectors of A^T A (64, 64), largest eigenvalue first.

GANSpace (Harkonen et al., NeurIPS 2020) samples: PCA of G's first hidden layer
over many z, each principal component mapped back to z by least squares (regress z
on the PCA coordinates). On the pre-activation W z + b this gives W's right singular
vectors, SeFa without the row normalisation; after the ReLU it differs.

Measured on the shipped checkpoints/book.pt (bench/latent_tools.py --compare, 128 z):
the top-8 directions of the two methods span nearly the same subspace (cosines of the
principal angles 1.00 x5, 0.99, 0.98, 0.80; directions 1-3 match one to one at |cos|
1.00, 0.97, 0.84, 4 and 5 swap places). Per unit step the pictures change by 0.25 RMS
in [-1, 1] units with either (0.17 along random directions); from -3 to +3, 80% of z
change class with either (73% random), and 5 of the 8 move a steady share of z from one
class to another (SeFa: dresses to sneakers 0.37, bags to trousers 0.26, coats to
T-shirts 0.27, ...; random directions: none of 8). SeFa is what the app offers: as
good, exact, seed-free, and 2 ms against 3 s for GANSpace's 50,000 samples.

Editing is z' = z + a n with n a unit direction: since z ~ N(0, I), a is in standard
deviations of z along n, and a in [-3, 3] stays within what G saw in training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import CLASS_NAMES
from .latent import decode, z_from_seed
from .verdicts import predict_classes

# The pixel statistics the labeller reports when the class stays the same.
PIXEL_STATS = ("brightness", "width", "height")
# A pixel (uint8) counts as garment above this level when measuring width and height.
_INK = 64
# A direction is named by classes when a class gains, and another loses, at least this share of z.
# (On book.pt the top five SeFa directions shift 0.2-0.4 of z; the next three 0.1-0.16, with no steady pair.)
CLASS_SHIFT = 0.2


@dataclass
class Directions:
    """Unit directions in z (k, latent_dim), strongest first, with the strength of each (k,)."""

    vectors: torch.Tensor   # (k, latent) orthonormal rows
    strengths: torch.Tensor  # (k,) eigenvalue (SeFa) or explained variance (GANSpace), decreasing
    method: str              # "sefa" or "ganspace"


def first_linear(G: nn.Module) -> nn.Linear:
    """G's first Linear layer (the book's G is a Sequential whose layer 0 is Linear(latent, hidden))."""
    layer = next((m for m in G.modules() if isinstance(m, nn.Linear)), None)
    if layer is None:
        raise ValueError("the generator has no Linear layer to take directions from")
    return layer


def _fix_signs(v: torch.Tensor) -> torch.Tensor:
    """Flip each row (k, d) so its largest-magnitude entry is positive: eigenvectors' signs are arbitrary."""
    idx = v.abs().argmax(dim=1, keepdim=True)
    return v * torch.sign(v.gather(1, idx))


def sefa_directions(G: nn.Module, k: int | None = None) -> Directions:
    """SeFa: eigenvectors of A^T A, A = G's first weight with unit rows; the top k (all if None)."""
    W = first_linear(G).weight.detach().double().cpu()        # (hidden, latent)
    A = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)       # (hidden, latent), unit rows
    evals, evecs = torch.linalg.eigh(A.T @ A)                  # ascending, (latent,), (latent, latent)
    order = torch.argsort(evals, descending=True)[:k]
    vectors = _fix_signs(evecs[:, order].T)                    # (k, latent)
    return Directions(vectors.float(), evals[order].float(), "sefa")


@torch.no_grad()
def first_hidden(G: nn.Module, z: torch.Tensor, activated: bool = True) -> torch.Tensor:
    """G's first hidden layer for z (n, latent): (n, hidden), after the ReLU or before it."""
    layer = first_linear(G)
    h = layer(z.to(layer.weight.device, layer.weight.dtype))
    return torch.relu(h) if activated else h


@torch.no_grad()
def ganspace_directions(G: nn.Module, k: int | None = None, n_samples: int = 50_000, seed: int = 0,
                        activated: bool = True) -> Directions:
    """GANSpace: PCA of the first hidden layer over n_samples seeded z, regressed back to z; top k."""
    latent = first_linear(G).in_features
    z = z_from_seed(seed, n_samples, latent).double()                    # (N, latent)
    h = first_hidden(G, z.float(), activated).double().cpu()             # (N, hidden)
    h = h - h.mean(dim=0)
    _, s, Vh = torch.linalg.svd(h, full_matrices=False)                  # Vh: (r, hidden), r = min(N, hidden)
    k = min(k or latent, latent, len(s))
    x = h @ Vh[:k].T                                                     # (N, k) PCA coordinates
    # Least squares z ~ x U: row i of U (k, latent) is where z moves per unit of component i.
    U = torch.linalg.lstsq(x, z).solution                                # (k, latent)
    # Gram-Schmidt in variance order, so sliders are independent and a is in standard deviations of z.
    Q = torch.linalg.qr(U.T).Q                                           # (latent, k)
    return Directions(_fix_signs(Q.T).float(), (s[:k] ** 2 / (len(z) - 1)).float(), "ganspace")


def _along(z: torch.Tensor, direction: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """z (m, latent) moved by each amount a (f,) along the unit direction: (f, m, latent)."""
    n = direction.reshape(-1).float()
    n = n / n.norm().clamp_min(1e-12)
    return z.float().unsqueeze(0) + a.float().reshape(-1, 1, 1) * n


def direction_strip(G: nn.Module, z: torch.Tensor, direction: torch.Tensor, n_frames: int = 7,
                    span: float = 3.0, image_size: int = 28) -> tuple[torch.Tensor, np.ndarray]:
    """z + a n for a evenly from -span to +span: the z's (n_frames, latent) and uint8 images (n_frames, s, s)."""
    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2, got {n_frames}")
    zs = _along(z.reshape(1, -1), direction, torch.linspace(-span, span, n_frames))[:, 0]   # (n_frames, latent)
    return zs, decode(G, zs, image_size)


def pixel_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image (n, s, s) uint8: mean brightness in [0, 1], and garment width and height as fractions of s."""
    x = images.astype(np.float32)
    ink = images > _INK                                                  # (n, s, s)
    side = images.shape[-1]

    def extent(mask: np.ndarray) -> np.ndarray:                          # mask (n, s): rows or columns with ink
        first = mask.argmax(axis=1)
        last = side - 1 - mask[:, ::-1].argmax(axis=1)
        return np.where(mask.any(axis=1), last - first + 1, 0) / side

    return {"brightness": x.mean(axis=(1, 2)) / 255.0,
            "width": extent(ink.any(axis=1)),
            "height": extent(ink.any(axis=2))}


@dataclass
class DirectionLabel:
    """What moving along a direction does, as data the app words itself.

    Over many base z, the classifier's classes at -span and at +span are counted;
    minus_class is the class lost most on the way to +span, plus_class the one gained
    most. kind is "class" when both moves reach CLASS_SHIFT of the z, else the pixel
    statistic (one of PIXEL_STATS) that moves the most, `change` being its effect size.
    """

    kind: str
    minus_class: str                    # the class that -span has most more of than +span
    plus_class: str                     # the class that +span has most more of than -span
    class_shift: float                  # the smaller of the two moves, as a share of the base z
    changed_share: float                # share of base z whose own class differs between the two ends
    change: float                       # effect size of `kind`'s statistic (+span minus -span, over its spread)
    shifts: dict[str, float]            # per class: its share at +span minus its share at -span
    stats: dict[str, tuple[float, float]]  # each pixel statistic's mean at -span and at +span


def label_direction(G: nn.Module, classifier: nn.Module, direction: torch.Tensor, n_bases: int = 128,
                    span: float = 3.0, seed: int = 0, image_size: int = 28) -> DirectionLabel:
    """Say what moving along `direction` does, from n_bases seeded z: a class change, else a pixel statistic."""
    zs = _along(z_from_seed(seed, n_bases, direction.numel()), direction, torch.tensor([-span, 0.0, span]))
    ims = decode(G, zs.reshape(3 * n_bases, -1), image_size).reshape(3, n_bases, image_size, image_size)
    cls = predict_classes(classifier, ims[[0, 2]].reshape(-1, image_size, image_size)).reshape(2, n_bases)
    share = [np.bincount(c, minlength=len(CLASS_NAMES)) / n_bases for c in cls]   # 2 x (classes,)
    shift = share[1] - share[0]                                          # (classes,) gained (+) or lost (-)
    minus, plus = int(shift.argmin()), int(shift.argmax())
    class_shift = float(min(shift[plus], -shift[minus]))
    st = [pixel_stats(x) for x in ims]                                   # at -span, 0, +span
    stats = {k: (float(st[0][k].mean()), float(st[2][k].mean())) for k in PIXEL_STATS}
    # Effect size: the mean change over the statistic's spread among the unmoved pictures (a = 0).
    effect = {k: (stats[k][1] - stats[k][0]) / max(float(st[1][k].std()), 1e-3) for k in PIXEL_STATS}
    kind = "class" if class_shift >= CLASS_SHIFT else max(PIXEL_STATS, key=lambda k: abs(effect[k]))
    return DirectionLabel(kind, CLASS_NAMES[minus], CLASS_NAMES[plus], class_shift,
                          float((cls[0] != cls[1]).mean()), 0.0 if kind == "class" else effect[kind],
                          {name: float(v) for name, v in zip(CLASS_NAMES, shift)}, stats)


@torch.no_grad()
def direction_effects(G: nn.Module, classifier: nn.Module, directions: torch.Tensor, n_bases: int = 128,
                      span: float = 3.0, seed: int = 0, image_size: int = 28) -> dict[str, object]:
    """Per direction (k, latent): RMS pixel change per unit step ([-1, 1] units), share of z changing class, label."""
    z = z_from_seed(seed, n_bases, directions.shape[1])                  # (n, latent)
    dev = next(G.parameters()).device
    per_unit = []
    for n in directions:
        # Central difference over one unit each side: (G(z + n) - G(z - n)) / 2, RMS over pixels, mean over z.
        x = G(_along(z, n, torch.tensor([1.0, -1.0])).reshape(2 * n_bases, -1).to(dev)).reshape(2, n_bases, -1)
        per_unit.append(((x[0] - x[1]) / 2).pow(2).mean(dim=1).sqrt().mean().item())
    labels = [label_direction(G, classifier, n, n_bases, span, seed, image_size) for n in directions]
    return {"pixel_change_per_unit": np.array(per_unit),
            "class_changed_share": np.array([lb.changed_share for lb in labels]),
            "labels": labels}
