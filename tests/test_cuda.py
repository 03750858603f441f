"""The CUDA path: the same step maths on a GPU, and the trainer running there. Skipped without CUDA."""
from __future__ import annotations

import pytest
import torch

from gan_core import GANConfig, StepEvent, Trainer, book_step, build_discriminator, build_generator, gan_step
from gan_core.step import make_optimizers
from test_equivalence import book_models, max_rel_diff

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_fast_step_equals_book_step_on_cuda(fashion_train):
    dev = torch.device("cuda")
    bG, bD = (m.to(dev) for m in book_models(seed=5))
    cfg = GANConfig()
    G, D = build_generator(cfg).to(dev), build_discriminator(cfg).to(dev)
    G.load_state_dict(bG.state_dict())
    D.load_state_dict(bD.state_dict())
    opt_g, opt_d = make_optimizers(G, D, cfg)
    b_opt_g, b_opt_d = torch.optim.Adam(bG.parameters(), lr=2e-4), torch.optim.Adam(bD.parameters(), lr=2e-4)
    x_all = fashion_train[0][:2000].to(dev)
    for i in range(20):
        x, z = x_all[i * 100:(i + 1) * 100], torch.randn(100, 64, device=dev)
        book_step(bG, bD, b_opt_g, b_opt_d, x, z)
        gan_step(G, D, opt_g, opt_d, x, z)
    assert max_rel_diff(G, bG) < 1e-5 and max_rel_diff(D, bD) < 1e-5


def test_trainer_on_cuda_learns_like_the_book(fashion_train):
    tr = Trainer(GANConfig(epochs=1), fashion_train[0], "cuda")
    steps = [e for e in tr.run() if isinstance(e, StepEvent)]
    assert len(steps) == 600 and tr.G[0].weight.is_cuda
    last = steps[-50:]
    assert sum(e.d_x for e in last) / 50 > 0.8 and sum(e.d_g_z for e in last) / 50 < 0.2
