"""G and D for a config: the book's MLP (below) or the DCGAN pair (gan_core/dcgan.py), by cfg.arch.

Keeping the book's exact Sequential layout keeps the state_dict keys (0.*, 2.*, 4.*)
of chapter 14, so weights move freely between this project and the book's code.
Both architectures take and give flat (B, 784) images, so nothing else needs to know which it has.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import GANConfig
from .dcgan import build_dcgan_discriminator, build_dcgan_generator


def build_generator(cfg: GANConfig) -> nn.Sequential:
    """G: z (B, latent) -> image (B, 784) in [-1, 1]."""
    if cfg.arch == "dcgan":
        return build_dcgan_generator(cfg)
    return nn.Sequential(
        nn.Linear(cfg.latent_dim, cfg.hidden_dim),
        nn.ReLU(),
        nn.Linear(cfg.hidden_dim, cfg.hidden_dim),
        nn.ReLU(),
        nn.Linear(cfg.hidden_dim, cfg.image_dim),
        nn.Tanh(),
    )


def build_discriminator(cfg: GANConfig) -> nn.Sequential:
    """D: image (B, 784) -> probability that it is real (B, 1)."""
    if cfg.arch == "dcgan":
        return build_dcgan_discriminator(cfg)
    return nn.Sequential(
        nn.Linear(cfg.image_dim, cfg.hidden_dim),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.Linear(cfg.hidden_dim, cfg.hidden_dim),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.Linear(cfg.hidden_dim, 1),
        nn.Sigmoid(),
    )


def build_models(cfg: GANConfig, device: str | torch.device = "cpu") -> tuple[nn.Sequential, nn.Sequential]:
    """G and D initialised from cfg.seed (PyTorch's default init), without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        G = build_generator(cfg)
        D = build_discriminator(cfg)
    return G.to(device), D.to(device)


def _shapes(net: nn.Module, parameters: bool) -> dict[str, tuple[int, ...]]:
    items = net.named_parameters() if parameters else net.state_dict().items()
    return {k: tuple(v.shape) for k, v in items}


def generator_shapes(cfg: GANConfig, parameters: bool = False) -> dict[str, tuple[int, ...]]:
    """Expected state_dict shapes of G, used to check files before loading them.

    parameters=True: the learned parameters only, in the order an optimiser holds them
    (a DCGAN's state_dict also holds batch norm's running statistics)."""
    return _shapes(build_generator(cfg), parameters)


def discriminator_shapes(cfg: GANConfig, parameters: bool = False) -> dict[str, tuple[int, ...]]:
    return _shapes(build_discriminator(cfg), parameters)
