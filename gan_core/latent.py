"""The latent space: seeded z, interpolation between two z, and decoding z to pictures."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

# Below this angle (radians) from 0 or pi, slerp's sin(omega) divisor is too small to trust.
_EPS_ANGLE = 1e-4


def z_from_seed(seed: int, n: int = 1, latent_dim: int = 64) -> torch.Tensor:
    """n vectors z ~ N(0, I), (n, latent_dim), the same for the same seed on any machine."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, latent_dim, generator=g)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Straight line from a (t=0) to b (t=1)."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of two vectors (latent,): follows the arc, norm interpolated linearly.

    Nearly parallel vectors fall back to lerp; for nearly opposite ones the arc
    is not unique, so it turns through a fixed direction orthogonal to a.
    """
    a64, b64 = a.double(), b.double()
    na, nb = a64.norm(), b64.norm()
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    ua, ub = a64 / na, b64 / nb
    omega = torch.arccos(torch.clamp(ua @ ub, -1.0, 1.0)).item()
    if omega < _EPS_ANGLE:
        return lerp(a, b, t)
    if math.pi - omega < _EPS_ANGLE:
        # Any unit vector orthogonal to a gives a half circle to -a; take the one along
        # the axis where a is smallest, so the choice is deterministic.
        e = torch.zeros_like(ua)
        e[torch.argmin(ua.abs())] = 1.0
        perp = e - (e @ ua) * ua
        perp = perp / perp.norm()
        u = math.cos(math.pi * t) * ua + math.sin(math.pi * t) * perp
    else:
        u = (math.sin((1 - t) * omega) * ua + math.sin(t * omega) * ub) / math.sin(omega)
    return (u * ((1 - t) * na + t * nb)).to(a.dtype)


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` frames from a to b inclusive, (steps, latent); mode is "lerp" or "slerp"."""
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"mode must be lerp or slerp, got {mode!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer of at least 2, got {steps!r}")
    a, b = a.reshape(-1), b.reshape(-1)
    f = lerp if mode == "lerp" else slerp
    return torch.stack([f(a, b, i / (steps - 1)) for i in range(steps)])


@torch.no_grad()
def decode(G: nn.Module, z: torch.Tensor, image_size: int = 28) -> np.ndarray:
    """Generated images as uint8 (n, size, size), 0 black to 255 white, ready to show."""
    dev = next(G.parameters()).device
    return to_uint8(G(z.to(dev, torch.float32).reshape(-1, z.shape[-1])), image_size)


def to_uint8(x: torch.Tensor, image_size: int = 28) -> np.ndarray:
    """Images in [-1, 1], (n, size*size), as uint8 (n, size, size); exact for the data set's own pixels."""
    u8 = ((x.detach() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return u8.reshape(-1, image_size, image_size).cpu().numpy()


@torch.no_grad()
def d_scores(D: nn.Module, images_u8: np.ndarray) -> np.ndarray:
    """D's probability that each uint8 image is real, (n,), for showing beside samples."""
    dev = next(D.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).to(dev).reshape(len(images_u8), -1).float()
    return D(x / 127.5 - 1).reshape(-1).cpu().numpy()
