"""Checkpoints people uploaded, kept on the server so that a reload or a shared link finds them again.

Each upload is stored as UPLOADS/SHA256.pt, named by its content (the same file uploaded twice is
kept once), with the name it was uploaded under in SHA256.name. A file is stored only after it
loaded as a generator: gan_core.load_checkpoint reads weights without running code from the file,
so a hostile file is refused before anything is written. Writes are atomic (gan_core.files).

Limits: each file at most the upload cap (Streamlit's server.maxUploadSize, 50 MB in
.streamlit/config.toml); the folder at most a total (GAN_EXPLORER_UPLOADS_MB): a new upload that
would pass it evicts the oldest uploads first (by upload time; uploading a file again renews it).
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from gan_core import atomic_write_bytes, load_checkpoint

DIGEST = re.compile(r"[0-9a-f]{64}")
NAME_MAX = 100          # characters of the uploaded file's name that are kept
# Two sessions storing at once must not both evict to make room for themselves, or evict the
# file the other has just written.
_LOCK = threading.Lock()


class UploadTooLarge(ValueError):
    """The file is bigger than a cap (the per-file one, or the whole folder's); sizes in bytes."""

    def __init__(self, size: int, cap: int) -> None:
        super().__init__(f"{size:,} bytes, over the cap of {cap:,}")
        self.size, self.cap = size, cap


@dataclass(frozen=True)
class Upload:
    """One stored upload."""

    digest: str       # sha256 of the file's bytes, hex
    name: str         # the file name it was uploaded under: foreign text, plain() it in Markdown
    path: Path

    @property
    def key(self) -> str:
        """The model picker's key (and the URL's ?model=)."""
        return f"upload:{self.digest}"


def _clean_name(name: str) -> str:
    """The uploaded name on one printable line, without any folder part."""
    name = " ".join(str(name).replace("\\", "/").rsplit("/", 1)[-1].split())
    return "".join(c for c in name if c.isprintable())[:NAME_MAX] or "upload.pt"


def _read_name(folder: Path, digest: str) -> str:
    try:
        return _clean_name((folder / f"{digest}.name").read_text(encoding="utf-8", errors="replace")[:NAME_MAX * 4])
    except OSError:
        return f"{digest[:12]}.pt"


def find(folder: Path, digest: str) -> Upload | None:
    """The upload with this digest, or None (never stored, evicted, or not a digest at all)."""
    if not DIGEST.fullmatch(digest):
        return None
    path = folder / f"{digest}.pt"
    return Upload(digest, _read_name(folder, digest), path) if path.is_file() else None


def _stored(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of each stored upload, oldest first."""
    found = []
    if folder.is_dir():
        for p in folder.glob("*.pt"):
            if DIGEST.fullmatch(p.stem):
                try:
                    st = p.stat()
                except FileNotFoundError:   # evicted by another session since the listing
                    continue
                found.append((st.st_mtime, st.st_size, p))
    return sorted(found)


def listing(folder: Path) -> list[Upload]:
    """Every stored upload, newest first."""
    return [Upload(p.stem, _read_name(folder, p.stem), p) for _, _, p in reversed(_stored(folder))]


def store(folder: Path, name: str, data: bytes, max_file_bytes: int, max_total_bytes: int) -> Upload:
    """Validate `data` as a generator checkpoint, then keep it; returns the stored upload.

    Raises UploadTooLarge (over the per-file cap, or over the folder's total on its own),
    gan_core.CheckpointError (not a generator, or a file that would run code), OSError (disk).
    max_total_bytes 0: no total cap.
    """
    if len(data) > max_file_bytes:
        raise UploadTooLarge(len(data), max_file_bytes)
    if max_total_bytes and len(data) > max_total_bytes:
        raise UploadTooLarge(len(data), max_total_bytes)
    load_checkpoint(data)   # before anything is written; its own limits refuse zip bombs and the like
    digest = hashlib.sha256(data).hexdigest()
    path = folder / f"{digest}.pt"
    with _LOCK:
        if path.is_file():
            os.utime(path)   # the same file again: renewed, so it is evicted last
        else:
            if max_total_bytes:
                _evict(folder, max_total_bytes - len(data))
            atomic_write_bytes(path, data)
        atomic_write_bytes(folder / f"{digest}.name", _clean_name(name).encode("utf-8"))
    return Upload(digest, _clean_name(name), path)


def _evict(folder: Path, room: int) -> None:
    """Remove the oldest uploads until the rest hold at most `room` bytes."""
    stored = _stored(folder)
    total = sum(size for _, size, _ in stored)
    for _, size, p in stored:
        if total <= room:
            break
        p.unlink(missing_ok=True)
        p.with_suffix(".name").unlink(missing_ok=True)
        total -= size
