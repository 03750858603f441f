"""gan_core's fast step against chapter 14's step as the book writes it (gan_core.book_step: autograd, nn.BCELoss).

The book's models are typed out here again, independently of gan_core, so that loading their
weights also proves the state_dicts are interchangeable."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_core import GANConfig, book_step, build_discriminator, build_generator, gan_step
from gan_core.step import make_optimizers


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


@pytest.mark.slow
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-11)])
def test_fast_step_equals_book_step(fashion_train, dtype, tol):
    images = fashion_train[0][:3000].to(dtype)
    bG, bD = book_models(seed=1)
    bG, bD = bG.to(dtype), bD.to(dtype)
    cfg = GANConfig()
    G, D = build_generator(cfg).to(dtype), build_discriminator(cfg).to(dtype)
    # Loading the book's weights also proves the state_dicts are interchangeable.
    G.load_state_dict(bG.state_dict())
    D.load_state_dict(bD.state_dict())
    opt_g, opt_d = make_optimizers(G, D, cfg)
    b_opt_g = torch.optim.Adam(bG.parameters(), lr=0.0002)
    b_opt_d = torch.optim.Adam(bD.parameters(), lr=0.0002)
    gen = torch.Generator().manual_seed(7)
    for i in range(30):
        x = images[i * 100:(i + 1) * 100]
        z = torch.randn(100, 64, generator=gen, dtype=dtype)
        want = book_step(bG, bD, b_opt_g, b_opt_d, x, z).tolist()
        got = gan_step(G, D, opt_g, opt_d, x, z).tolist()
        assert got == pytest.approx(want, rel=max(tol, 1e-6) * 10, abs=1e-6), f"step {i}"
    assert max_rel_diff(G, bG) < tol
    assert max_rel_diff(D, bD) < tol
    # The runs really moved: equality is not two copies of the initial weights.
    G0, D0 = book_models(seed=1)
    assert max_rel_diff(bG.float(), G0) > 1e-3 and max_rel_diff(bD.float(), D0) > 1e-3


def test_partial_batch_step_matches_book(fashion_train):
    """A last batch smaller than the rest (batch size not dividing 60,000) is still the book's maths."""
    bG, bD = book_models(seed=3)
    cfg = GANConfig()
    G, D = build_generator(cfg), build_discriminator(cfg)
    G.load_state_dict(bG.state_dict())
    D.load_state_dict(bD.state_dict())
    opt_g, opt_d = make_optimizers(G, D, cfg)
    b_opt_g, b_opt_d = torch.optim.Adam(bG.parameters(), lr=2e-4), torch.optim.Adam(bD.parameters(), lr=2e-4)
    for n in (100, 37, 100, 1):
        x = fashion_train[0][:n]
        z = torch.randn(n, 64)
        book_step(bG, bD, b_opt_g, b_opt_d, x, z)
        gan_step(G, D, opt_g, opt_d, x, z)
    assert max_rel_diff(G, bG) < 1e-5 and max_rel_diff(D, bD) < 1e-5
