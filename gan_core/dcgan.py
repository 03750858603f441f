"""A convolutional G and D for 28x28 grey images: DCGAN (Radford, Metz and Chintala, 2015), sized for Fashion-MNIST.

The paper's rules, kept: transposed convolutions up (G) and strided convolutions down (D)
instead of pooling; batch norm in G (not its output) and in D (not its input layer); ReLU
in G with Tanh out, LeakyReLU(0.2) in D; weights drawn from N(0, 0.02); Adam with lr 2e-4
and beta1 0.5. Its 64x64 stack (four up-convolutions from 4x4) is cut to two, 7 -> 14 -> 28,
as the common 28x28 adaptations do:

    G  z (64) -> Linear 6272 -> BN ReLU -> (128, 7, 7) -> ConvT 64 (14x14) BN ReLU
              -> ConvT 1 (28x28) Tanh -> flattened (784)
    D  image (784) -> (1, 28, 28) -> Conv 64 (14x14) LeakyReLU -> Conv 128 (7x7) BN LeakyReLU
              -> Linear 1 -> Sigmoid

Both keep the MLP's interface: G returns flat (B, 784) rows and D takes them, so the
trainer, sampling, the quality metrics and every page treat the two architectures alike.
"""
from __future__ import annotations

from torch import nn

from .config import GANConfig

CHANNELS = (128, 64)   # G's feature maps at 7x7 and 14x14; D mirrors them (64 at 14x14, 128 at 7x7)
KERNEL, STRIDE, PAD = 4, 2, 1   # each layer doubles (G) or halves (D) the side: 7 <-> 14 <-> 28


def _side(cfg: GANConfig) -> int:
    """The smallest map's side: two doublings reach the image."""
    if cfg.image_size % 4:
        raise ValueError(f"a DCGAN needs an image side divisible by 4, got {cfg.image_size}")
    return cfg.image_size // 4


def _init(net: nn.Module) -> nn.Module:
    """The paper's initialisation: conv and linear weights ~ N(0, 0.02), batch norm scale ~ N(1, 0.02)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


def build_dcgan_generator(cfg: GANConfig) -> nn.Sequential:
    """G: z (B, latent) -> image (B, side*side) in [-1, 1]."""
    s, (c1, c2) = _side(cfg), CHANNELS
    return _init(nn.Sequential(
        # The projection has no bias: the batch norm after it would cancel one.
        nn.Linear(cfg.latent_dim, c1 * s * s, bias=False),
        nn.BatchNorm1d(c1 * s * s),
        nn.ReLU(),
        nn.Unflatten(1, (c1, s, s)),
        nn.ConvTranspose2d(c1, c2, KERNEL, STRIDE, PAD, bias=False),
        nn.BatchNorm2d(c2),
        nn.ReLU(),
        nn.ConvTranspose2d(c2, 1, KERNEL, STRIDE, PAD),
        nn.Tanh(),
        nn.Flatten(),
    ))


def build_dcgan_discriminator(cfg: GANConfig) -> nn.Sequential:
    """D: image (B, side*side) -> probability that it is real (B, 1)."""
    s, (c1, c2) = _side(cfg), CHANNELS
    return _init(nn.Sequential(
        nn.Unflatten(1, (1, cfg.image_size, cfg.image_size)),
        nn.Conv2d(1, c2, KERNEL, STRIDE, PAD),           # no batch norm on D's input layer (the paper)
        nn.LeakyReLU(cfg.leaky_slope),
        nn.Conv2d(c2, c1, KERNEL, STRIDE, PAD, bias=False),
        nn.BatchNorm2d(c1),
        nn.LeakyReLU(cfg.leaky_slope),
        nn.Flatten(),
        nn.Linear(c1 * s * s, 1),
        nn.Sigmoid(),
    ))
