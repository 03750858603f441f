"""A latent plane: a grid of z spanned by three (or four) z, decoded in one pass.

After Tom White, "Sampling Generative Networks" (2016; dribnet/plat): corners A (top
left), B (top right), C (bottom left) and D (bottom right), by default D = C + (B - A),
the analogy "A is to B as C is to D". The left column runs from A to C, the right one
from B to D, and each row runs between them. With "lerp" the grid is the flat plane
A + u (B - A) + v (C - A); "slerp" follows arcs instead, keeping z away from the
low-norm middle that G rarely saw in training. For independent A, B and C the analogy's D
is about sqrt(3) times longer than a typical z; pass z_d to choose another fourth corner.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .latent import decode, interpolate

# 64 x 64 = 4,096 pictures is already more than a page shows; beyond it the grid is a mistake.
MAX_SIDE = 64


@dataclass
class LatentPlane:
    """The grid's z (rows, cols, latent) and its pictures, uint8 (rows, cols, s, s); corners are A, B, C, D."""

    z: torch.Tensor
    images: np.ndarray


def analogy_corner(z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor) -> torch.Tensor:
    """D = C + (B - A): what C becomes under the change that takes A to B."""
    return z_c + (z_b - z_a)


def plane_z(z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor, rows: int = 9, cols: int = 9,
            mode: str = "lerp", z_d: torch.Tensor | None = None) -> torch.Tensor:
    """The grid's z, (rows, cols, latent): A top left, B top right, C bottom left, D bottom right."""
    for name, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, int) or not 2 <= v <= MAX_SIDE:
            raise ValueError(f"{name} must be an integer between 2 and {MAX_SIDE}, got {v!r}")
    a, b, c = (t.reshape(-1).float() for t in (z_a, z_b, z_c))
    d = analogy_corner(a, b, c) if z_d is None else z_d.reshape(-1).float()
    left = interpolate(a, c, rows, mode)                                 # (rows, latent)
    right = interpolate(b, d, rows, mode)                                # (rows, latent)
    return torch.stack([interpolate(l, r, cols, mode) for l, r in zip(left, right)])


def latent_plane(G: nn.Module, z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor, rows: int = 9,
                 cols: int = 9, mode: str = "lerp", z_d: torch.Tensor | None = None,
                 image_size: int = 28) -> LatentPlane:
    """plane_z's grid and its pictures, all decoded in one batch."""
    z = plane_z(z_a, z_b, z_c, rows, cols, mode, z_d)                    # (rows, cols, latent)
    images = decode(G, z.reshape(rows * cols, -1), image_size)           # (rows * cols, s, s)
    return LatentPlane(z, images.reshape(rows, cols, image_size, image_size))
