"""What the latent tools share: uint8 pictures back to G's scale, the classifier's classes, a thread limit."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn


def from_uint8(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 pictures (n, s, s) or (s, s) as float32 (n, s*s) in [-1, 1], G's and the data set's scale."""
    x = torch.as_tensor(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) else images
    return x.reshape(-1, x.shape[-2] * x.shape[-1]).float() / 127.5 - 1


@torch.no_grad()
def predict_classes(classifier: nn.Module, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """The classifier's class index for each picture, (n,): uint8 (n, s, s) or float (n, s*s) in [-1, 1]."""
    x = from_uint8(images) if images.dtype in (np.uint8, torch.uint8) else torch.as_tensor(images).float()
    dev = next(classifier.parameters()).device
    return classifier(x.to(dev)).argmax(dim=1).cpu().numpy()


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on n intra-op threads (None: leave as is), then restore the previous count.

    The latent tools work on batches of 1-16 pictures: a second thread gains at most a
    few per cent, and when the cores are shared (training in the background, other
    users) OpenMP's threads wait on each other and the same call runs 10-50x slower.
    """
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
