"""Shared fixtures: the real Fashion-MNIST (skipping nothing: CI installs it) and temp run folders."""
from __future__ import annotations

import os

import pytest
import torch

from gan_core import load_fashion_mnist

# Tests share two cores with the app server and browser in some of them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def fashion_train() -> tuple[torch.Tensor, torch.Tensor]:
    """The real train set, (60000, 784) in [-1, 1], and its labels."""
    return load_fashion_mnist(train=True)


@pytest.fixture(scope="session")
def fashion_test() -> tuple[torch.Tensor, torch.Tensor]:
    return load_fashion_mnist(train=False)
