"""GAN Explorer's core: the GAN of chapter 14 (MLP G and D on Fashion-MNIST), trained fast.

Importing this package has no side effects: no downloads, folders or argument parsing.
"""
from .config import ConfigError, GANConfig
from .data import CLASS_NAMES, DataNotFoundError, load_fashion_mnist
from .model import build_discriminator, build_generator, build_models
from .training import (EpochEvent, StepEvent, TrainControl, Trainer, TrainingDiverged,
                       gan_step, resolve_device)

__all__ = [
    "ConfigError", "GANConfig", "CLASS_NAMES", "DataNotFoundError", "load_fashion_mnist",
    "build_discriminator", "build_generator", "build_models",
    "EpochEvent", "StepEvent", "TrainControl", "Trainer", "TrainingDiverged", "gan_step", "resolve_device",
]
