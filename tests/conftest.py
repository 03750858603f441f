"""Shared fixtures: the real Fashion-MNIST (skipping nothing: CI installs it), temp run folders, real small disks."""
from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

# The suite tests the pages' server path, the reference: G drawn in the browser (explorer/live_generator.py) is
# tested where it is asked for (tests/test_live_generator.py sets GAN_EXPLORER_LIVE=1). Set here, before any
# fixture starts a server, so that servers inherit it too.
os.environ.setdefault("GAN_EXPLORER_LIVE", "0")

def _scan_installed_components_once() -> None:
    """Every new AppTest scans all installed packages for Streamlit component manifests, about 0.2 s with this
    venv's packages: most of a fresh AppTest's first run, and the quick loop starts some 300 of them. The
    installed packages cannot change during a test run, so the scan's answer is kept. (The app's own component,
    explorer/live_generator.py, is declared inline and never came from the scan.)"""
    from streamlit.components.v2 import manifest_scanner
    scan = manifest_scanner.scan_component_manifests
    found: list = []

    def scan_once(*args, **kwargs):
        if not found:
            found.append(scan(*args, **kwargs))
        return list(found[0])

    manifest_scanner.scan_component_manifests = scan_once


def pytest_configure(config) -> None:
    # pytest-xdist's controller only hands tests to its workers: torch and Streamlit (2 s to import) are theirs
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    import torch
    # One thread: tests share the cores with app servers, browsers and each other, and a second OpenMP
    # thread that has to wait for a busy core spins; under load it quadrupled the CPU time of the training tests.
    torch.set_num_threads(1)
    _scan_installed_components_once()


@pytest.fixture(scope="session")
def fashion_train() -> tuple[torch.Tensor, torch.Tensor]:
    """The real train set, (60000, 784) in [-1, 1], and its labels."""
    from gan_core import load_fashion_mnist
    return load_fashion_mnist(train=True)


@pytest.fixture(scope="session")
def fashion_test() -> tuple[torch.Tensor, torch.Tensor]:
    from gan_core import load_fashion_mnist
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


@contextlib.contextmanager
def _tmpfs(mnt, size: str, read_only: bool = False):
    """A real file system of `size` mounted on mnt for the block; skips the test where mounting is not allowed."""
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}" + (",ro" if read_only else ""), "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root in a namespace that allows it): {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A real 10 MB file system: room for one checkpoint (6.6 MB) but not for a second beside it."""
    with _tmpfs(tmp_path / "disk", "10m") as mnt:
        yield mnt


@pytest.fixture
def read_only_disk(tmp_path):
    """A real read-only file system (root writes through chmod, not through this)."""
    with _tmpfs(tmp_path / "ro", "1m", read_only=True) as mnt:
        yield mnt


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """An empty runs folder, the shipped checkpoints, and no cached models, data or evaluations from other tests."""
    import streamlit as st

    from explorer import run_manager
    monkeypatch.setenv("GAN_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("GAN_EXPLORER_CHECKPOINTS", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    run_manager.shutdown_all()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def no_data_set(tmp_path, monkeypatch):
    """No copy of Fashion-MNIST anywhere the project looks (a given folder, the cache, Debian's), and no download."""
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    for var in ("GAN_EXPLORER_DATA", "GAN_EXPLORER_CACHE", "GAN_EXPLORER_DEBIAN_DATA"):
        monkeypatch.setenv(var, str(nowhere))
    monkeypatch.setenv("GAN_EXPLORER_NO_DOWNLOAD", "1")
