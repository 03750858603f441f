"""Turning uint8 image batches into grids, strips, PNGs and GIFs."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .files import atomic_write


def grid(images: np.ndarray, ncols: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile uint8 images (n, h, w) into one (H, W) picture with `pad` black pixels between them."""
    n, h, w = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    out = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return upscale(out, scale)


def strip(frames: np.ndarray, width: int = 900, max_columns: int = 8, min_scale: int = 3,
          max_scale: int = 4) -> np.ndarray:
    """Frames (n, h, w) left to right, wrapping after max_columns, at the largest whole scale that fits width.

    A long walk wraps onto more rows rather than shrinking: 32 frames in one row of 900 px
    would be 28 px each, too small to see on a projector.
    """
    n, h, w = frames.shape
    columns = min(n, max_columns)
    scale = max(min_scale, min(max_scale, width // (columns * (w + 2))))
    return grid(frames, ncols=columns, scale=scale)


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so pixels stay crisp squares."""
    return image if scale == 1 else np.kron(image, np.ones((scale, scale), np.uint8))


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, frame_ms: int = 80, boomerang: bool = True) -> bytes:
    """An endlessly looping GIF of uint8 frames (n, h, w); boomerang plays back and forth."""
    seq = list(frames) + (list(frames[-2:0:-1]) if boomerang and len(frames) > 2 else [])
    pics = [Image.fromarray(f) for f in seq]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    data = png_bytes(image)
    return atomic_write(path, lambda f: f.write(data))


def save_gif(path: str | os.PathLike, frames: np.ndarray, frame_ms: int = 80) -> Path:
    data = gif_bytes(frames, frame_ms)
    return atomic_write(path, lambda f: f.write(data))
