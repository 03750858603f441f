"""Fashion-MNIST, found offline where possible and preloaded as one tensor.

Looked for in order: a folder the user names, the project's data cache,
Debian's dataset-fashion-mnist package, then a torchvision download.
Environment: GAN_EXPLORER_DATA (a folder to look in), GAN_EXPLORER_CACHE (the
cache), GAN_EXPLORER_DEBIAN_DATA (Debian's folder, for tests), and
GAN_EXPLORER_NO_DOWNLOAD=1 (never try the network).
Pixels are scaled exactly like the book's ToTensor() + Normalize((0.5,), (0.5,)).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import torch

from .files import atomic_write

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# torchvision's download has no timeout: a network that drops packets would hang it for minutes.
PROBE_SECONDS = 5.0
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

HOW_TO_GET = ("Fashion-MNIST not found. Get it one of these ways: "
              "`sudo apt-get install dataset-fashion-mnist` (Debian, offline); "
              "pass --data-dir DIR holding the four idx files (.gz or not); "
              "set GAN_EXPLORER_DATA to such a folder; or connect to the internet once for a torchvision download")


class DataNotFoundError(RuntimeError):
    """No copy of Fashion-MNIST could be found or downloaded."""


def default_cache_dir() -> Path:
    """Where decompressed or downloaded data is kept (torchvision layout)."""
    env = os.environ.get("GAN_EXPLORER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gan-explorer"


def debian_dir() -> Path:
    """Where Debian's dataset-fashion-mnist package puts the files."""
    return Path(os.environ.get("GAN_EXPLORER_DEBIAN_DATA") or DEBIAN_DIR)


def _download_allowed() -> bool:
    """False when downloads are switched off, or when the mirror cannot be reached within PROBE_SECONDS."""
    if os.environ.get("GAN_EXPLORER_NO_DOWNLOAD", "") not in ("", "0"):
        return False
    from torchvision.datasets import FashionMNIST
    url = urlsplit(FashionMNIST.mirrors[0])
    reached = []

    def probe() -> None:
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=PROBE_SECONDS).close()
            reached.append(True)
        except OSError:
            pass

    # In a thread: the name lookup inside create_connection has no timeout of its own.
    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(PROBE_SECONDS)
    return bool(reached)


def _idx_files_in(folder: Path) -> dict[str, Path] | None:
    """Map each raw name to a file in folder (plain or .gz); None if any is missing."""
    found = {}
    for name in RAW_FILES:
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.is_file():
                found[name] = cand
                break
        else:
            return None
    return found


def _install_raw(files: dict[str, Path], root: Path) -> None:
    """Decompress idx files into root/FashionMNIST/raw, where torchvision reads them without md5 checks."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        dst = raw / name
        if not dst.is_file():
            opener = gzip.open if src.suffix == ".gz" else open
            with opener(src, "rb") as inp:
                atomic_write(dst, lambda out: shutil.copyfileobj(inp, out))


def _candidate_folders(data_dir: str | os.PathLike | None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        d = Path(data_dir)
        dirs += [d, d / "FashionMNIST" / "raw", d / "raw"]
    env = os.environ.get("GAN_EXPLORER_DATA")
    if env:
        d = Path(env)
        dirs += [d, d / "FashionMNIST" / "raw", d / "raw"]
    dirs += [default_cache_dir() / "FashionMNIST" / "raw", debian_dir()]  # torchvision's download, Debian
    return dirs


def find_dataset_root(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """A torchvision root holding FashionMNIST/raw; raises DataNotFoundError with the ways to get it."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataNotFoundError(f"data folder {data_dir} does not exist")
    cache = default_cache_dir()
    for folder in _candidate_folders(data_dir):
        files = _idx_files_in(folder)
        if files is None:
            continue
        plain = all(p.suffix != ".gz" for p in files.values())
        if plain and folder.name == "raw" and folder.parent.name == "FashionMNIST":
            return folder.parent.parent
        # Unpack each source into its own folder, so two copies never mix.
        root = cache / "unpacked" / hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
        try:
            _install_raw(files, root)
        except OSError as e:
            raise DataNotFoundError(f"found Fashion-MNIST in {folder} but cannot unpack it into {root}: {e.strerror}") from e
        return root
    if download and _download_allowed():
        from torchvision.datasets import FashionMNIST
        try:
            FashionMNIST(str(cache), train=True, download=True)
            FashionMNIST(str(cache), train=False, download=True)
            return cache
        except Exception:  # any network or mirror failure means "not available"
            pass
    raise DataNotFoundError(HOW_TO_GET)


def load_fashion_mnist(train: bool = True, data_dir: str | os.PathLike | None = None,
                       device: str | torch.device = "cpu", download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 784) float32 in [-1, 1] and labels (N,) int64, on device."""
    from torchvision.datasets import FashionMNIST

    root = find_dataset_root(data_dir, download=download)
    try:
        ds = FashionMNIST(str(root), train=train, download=False)
    except RuntimeError as e:
        raise DataNotFoundError(f"Fashion-MNIST files under {root} are unreadable: {e}") from e
    u8 = ds.data  # (N, 28, 28) uint8
    # Same ops as ToTensor (float, /255) then Normalize (-0.5, /0.5), so values match the book bit for bit.
    x = u8.to(device).reshape(len(u8), -1).float().div_(255).sub_(0.5).div_(0.5)
    return x, ds.targets.to(device)
