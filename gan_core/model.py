"""The book's generator and discriminator, as plain nn.Sequential stacks.

Keeping the exact Sequential layout keeps the state_dict keys (0.*, 2.*, 4.*)
of chapter 14, so weights move freely between this project and the book's code.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import GANConfig


def build_generator(cfg: GANConfig) -> nn.Sequential:
    """G: z (B, latent) -> image (B, 784) in [-1, 1]."""
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


def generator_shapes(cfg: GANConfig) -> dict[str, tuple[int, ...]]:
    """Expected state_dict shapes of G, used to check files before loading them."""
    return {k: tuple(v.shape) for k, v in build_generator(cfg).state_dict().items()}


def discriminator_shapes(cfg: GANConfig) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in build_discriminator(cfg).state_dict().items()}
