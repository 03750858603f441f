"""gan_core's fast step against chapter 14's step as the book writes it (gan_core.book_step: autograd, nn.BCELoss).

The book's models are typed out here again, independently of gan_core, so that loading their
weights also proves the state_dicts are interchangeable. Float64 is the proof (the two agree to
rounding, about 1e-16); float32 only bounds how far rounding, amplified by Adam where gradients
are near zero, lets them drift (see FLOAT32_DRIFT)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core import GANConfig, book_step, build_discriminator, build_generator, gan_step
from gan_core.step import make_optimizers

SEEDS = range(5)
STEPS = 50
# The worst drift measured over SEEDS x STEPS (parameters, relative; torch 2.14.1, MKL, AMD EPYC) was
# 3.3e-6 in float32 and 5e-16 in float64. The bounds leave room for other CPUs' kernels: the book's
# own loop, fused against unfused Adam, drifts by up to 1e-4 in float32.
FLOAT32_DRIFT = 5e-5
FLOAT64_DRIFT = 1e-12


def book_models(seed: int):
    """The book's G and D, typed out independently of gan_core."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2),
                      nn.Linear(256, 1), nn.Sigmoid())
    return G, D


def max_rel_diff(a: nn.Module, b: nn.Module) -> float:
    """Largest per-tensor relative difference between two models' parameters."""
    sa, sb = a.state_dict(), b.state_dict()
    return max(((sa[k] - sb[k]).norm() / sb[k].norm()).item() for k in sb)


class Pair:
    """The book's G and D with default Adam, and gan_core's copies of them with make_optimizers, in `dtype`."""

    def __init__(self, seed: int, dtype: torch.dtype = torch.float32) -> None:
        bG, bD = book_models(seed)
        self.bG, self.bD = bG.to(dtype), bD.to(dtype)
        cfg = GANConfig()
        self.G, self.D = build_generator(cfg).to(dtype), build_discriminator(cfg).to(dtype)
        # Loading the book's weights also proves the state_dicts are interchangeable.
        self.G.load_state_dict(self.bG.state_dict())
        self.D.load_state_dict(self.bD.state_dict())

    def start(self) -> None:
        """Fresh optimisers for both, from the weights as they stand (after any construction)."""
        self.opt_g, self.opt_d = make_optimizers(self.G, self.D, GANConfig())
        self.b_opt_g = torch.optim.Adam(self.bG.parameters(), lr=0.0002)
        self.b_opt_d = torch.optim.Adam(self.bD.parameters(), lr=0.0002)

    def step(self, x: torch.Tensor, z: torch.Tensor) -> tuple[list[float], list[float]]:
        """One step of each: (the book's four numbers, gan_core's)."""
        want = book_step(self.bG, self.bD, self.b_opt_g, self.b_opt_d, x, z).tolist()
        got = gan_step(self.G, self.D, self.opt_g, self.opt_d, x, z).tolist()
        return want, got

    def drift(self) -> float:
        return max(max_rel_diff(self.G, self.bG), max_rel_diff(self.D, self.bD))


@pytest.mark.slow
@pytest.mark.parametrize("dtype,tol", [(torch.float64, FLOAT64_DRIFT), (torch.float32, FLOAT32_DRIFT)])
def test_fast_step_equals_book_step(fashion_train, dtype, tol):
    """STEPS steps on each of SEEDS (weights, batches and z from the seed) leave the two pairs equal."""
    images = fashion_train[0][:STEPS * 100].to(dtype)
    for seed in SEEDS:
        pair = Pair(seed, dtype)
        pair.start()
        gen = torch.Generator().manual_seed(100 + seed)
        for i in range(STEPS):
            want, got = pair.step(images[i * 100:(i + 1) * 100], torch.randn(100, 64, generator=gen, dtype=dtype))
            assert got == pytest.approx(want, rel=max(tol, 1e-6) * 10, abs=1e-6), f"seed {seed}, step {i}"
        assert pair.drift() < tol, f"seed {seed}"
        # The runs really moved: equality is not two copies of the initial weights.
        G0, D0 = book_models(seed)
        assert max_rel_diff(pair.bG.float(), G0) > 1e-3 and max_rel_diff(pair.bD.float(), D0) > 1e-3


def test_partial_batch_step_matches_book(fashion_train):
    """A last batch smaller than the rest (batch size not dividing 60,000) is still the book's maths."""
    pair = Pair(seed=3)
    pair.start()
    for n in (100, 37, 100, 1):
        pair.step(fashion_train[0][:n], torch.randn(n, 64))
    assert pair.drift() < 1e-5


def saturate(pair: Pair, x: torch.Tensor, z: torch.Tensor, right: bool) -> torch.Tensor:
    """Make D certain: its last layer rescaled so that every logit on x and on G(z) is 30 or more in size,
    real positive and fake negative (right) or the other way round (a confidently wrong D). Returns the logits."""
    with torch.no_grad():
        feat_r, feat_f = pair.bD[:4](x), pair.bD[:4](pair.bG(z))   # D's last hidden layer on real and fake
        w = feat_r.mean(0) - feat_f.mean(0)
        r, f = feat_r @ w, feat_f @ w
        assert r.min() > f.max(), "real and fake rows must be separable along w"
        mid, half_gap = (r.min() + f.max()) / 2, (r.min() - f.max()) / 2
        scale = 30 / half_gap * (1 if right else -1)
        for net in (pair.bD, pair.D):
            net[4].weight.copy_(scale * w[None])
            net[4].bias.fill_(-scale * mid)
        return torch.cat((pair.bD[:5](x), pair.bD[:5](pair.bG(z))))


@pytest.mark.parametrize("right", [True, False], ids=["certain", "confidently-wrong"])
def test_saturated_d_matches_book(fashion_train, right):
    """Where D's logits pass +-27.6, PyTorch's BCELoss clamps its gradient; the fast step clamps it the same way.

    Float64, so any difference is the maths, not rounding: without the clamps G's updates differ by tens of percent."""
    dtype = torch.float64
    pair = Pair(seed=5, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    x = fashion_train[0][:100].to(dtype)
    z = torch.randn(100, 64, generator=gen, dtype=dtype)
    logits = saturate(pair, x, z, right)
    assert logits.abs().min() >= 30 - 1e-9     # every row is past the clamp's threshold
    pair.start()
    G0, D0 = book_models(5)
    for i in range(3):
        want, got = pair.step(x if i == 0 else fashion_train[0][i * 100:(i + 1) * 100].to(dtype),
                              z if i == 0 else torch.randn(100, 64, generator=gen, dtype=dtype))
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12), f"step {i}"
    assert pair.drift() < FLOAT64_DRIFT
    # The steps did something (G learns from a certain D; a confidently wrong D relearns), so the
    # equality is not of two frozen copies.
    assert max(max_rel_diff(pair.bG.float(), G0), max_rel_diff(pair.bD.float()[:4], D0[:4])) > 1e-3
