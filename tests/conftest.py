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


def _write_idx(path, array) -> None:
    """Write a uint8 array in the idx format Fashion-MNIST ships in (magic, sizes, bytes)."""
    import numpy as np
    a = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    path.write_bytes(header + a.tobytes())


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory):
    """A torchvision-style folder holding the first 3,000 train and 1,000 test images of the real data."""
    from torchvision.datasets import FashionMNIST
    from gan_core.data import find_dataset_root
    src = find_dataset_root()
    root = tmp_path_factory.mktemp("fmnist")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for train, n, prefix in ((True, 3000, "train"), (False, 1000, "t10k")):
        ds = FashionMNIST(str(src), train=train, download=False)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", ds.data[:n].numpy())
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", ds.targets[:n].numpy())
    return root
