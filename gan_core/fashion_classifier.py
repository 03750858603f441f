"""A small CNN that classifies Fashion-MNIST: the offline stand-in for Inception when judging samples.

Inception weights cannot be downloaded here, so, as TF-GAN does for MNIST, a
classifier trained on the data set itself gives the features (its penultimate
layer) for a Frechet distance and the predictions for class coverage and a
classifier score (see gan_core/quality.py).

    python -m gan_core.classifier --out checkpoints/classifier.pt   # train, print test accuracy (gan_core/cli/classifier.py)

The checkpoint is a plain dict (format, version, config, state_dict,
test_accuracy, meta) written atomically and read with weights_only=True.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import CheckpointError, check_tensor, read_weights_file
from .config import quoted
from .files import atomic_write

FORMAT = "gan-explorer-classifier"
VERSION = 1
# The shipped file is under 1 MB; anything far bigger is not a classifier of ours.
MAX_CLASSIFIER_BYTES = 50 * 1024 * 1024
# The one shipped with the project, found beside the package so it works from any folder.
DEFAULT_CLASSIFIER_PATH = Path(__file__).resolve().parent.parent / "checkpoints" / "classifier.pt"


class ClassifierError(CheckpointError):
    """A file is not a usable classifier checkpoint; the message says why in one line."""


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape and training recipe of the classifier."""

    channels1: int = 16       # filters of the first 3x3 conv (28x28 -> pooled 14x14)
    channels2: int = 32       # filters of the second 3x3 conv (14x14 -> pooled 7x7)
    feature_dim: int = 128    # penultimate width: the feature vector the metrics use
    num_classes: int = 10
    image_size: int = 28
    dropout: float = 0.3
    lr: float = 2e-3
    batch_size: int = 128
    epochs: int = 8
    seed: int = 0

    def validate(self) -> "ClassifierConfig":
        """Raise ValueError with a one-line reason if any value is unusable."""
        for name, lo, hi in (("channels1", 1, 1024), ("channels2", 1, 1024), ("feature_dim", 1, 8192),
                             ("num_classes", 2, 1000), ("epochs", 1, 1000), ("batch_size", 1, 60_000)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {quoted(v)}")
        # Two 2x2 poolings need a side divisible by 4.
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) \
                or not 4 <= self.image_size <= 256 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 between 4 and 256, got {quoted(self.image_size)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer between 0 and 2**63-1, got {quoted(self.seed)}")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr <= 1:
            raise ValueError(f"lr must be in (0, 1], got {quoted(self.lr)}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {quoted(self.dropout)}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> "ClassifierConfig":
        """Rebuild from a stored dict; unknown keys are an error, missing ones take defaults."""
        if not isinstance(d, dict):
            raise ValueError("classifier config must be a mapping")
        extra = sorted(set(map(str, d)) - {f.name for f in fields(cls)})
        if extra:
            raise ValueError(f"unknown classifier config keys: {', '.join(extra)}")
        return cls(**d).validate()


class FashionClassifier(nn.Module):
    """conv-relu-pool, conv-relu-pool, fc-relu (the features), fc (the logits)."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        side = cfg.image_size // 4
        self.conv1 = nn.Conv2d(1, cfg.channels1, 3, padding=1)
        self.conv2 = nn.Conv2d(cfg.channels1, cfg.channels2, 3, padding=1)
        self.fc = nn.Linear(cfg.channels2 * side * side, cfg.feature_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.feature_dim, cfg.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, feature_dim) of images (N, side*side) in [-1, 1]."""
        s = self.cfg.image_size
        h = x.reshape(-1, 1, s, s)                         # (N, 1, 28, 28)
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)         # (N, c1, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)         # (N, c2, 7, 7)
        return F.relu(self.fc(h.flatten(1)))               # (N, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.head(self.dropout(self.features(x)))


def build_classifier(cfg: ClassifierConfig | None = None) -> FashionClassifier:
    """A freshly initialised classifier, its weights drawn from cfg.seed without touching the global RNG."""
    cfg = (cfg or ClassifierConfig()).validate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return FashionClassifier(cfg)


def classifier_shapes(cfg: ClassifierConfig) -> dict[str, tuple[int, ...]]:
    """Expected state_dict shapes, used to check files before loading them."""
    return {k: tuple(v.shape) for k, v in FashionClassifier(cfg).state_dict().items()}


@torch.no_grad()
def classifier_accuracy(model: FashionClassifier, images: torch.Tensor, labels: torch.Tensor,
                        batch_size: int = 2000) -> float:
    """Fraction of images (N, 784) whose predicted class equals the label."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    correct = 0
    for i in range(0, len(images), batch_size):
        logits = model(images[i:i + batch_size].to(dev, torch.float32))
        correct += (logits.argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum().item()
    model.train(was_training)
    return correct / max(len(images), 1)


def train_classifier(cfg: ClassifierConfig, images: torch.Tensor, labels: torch.Tensor,
                     device: str | torch.device = "cpu",
                     progress: Callable[[int, float], None] | None = None) -> FashionClassifier:
    """Train on images (N, 784) in [-1, 1] and labels (N,); progress(epoch, mean loss) after each epoch.

    Weights, data order and dropout all come from cfg.seed, so a run repeats exactly on one machine.
    """
    cfg = cfg.validate()
    if images.ndim != 2 or images.shape[1] != cfg.image_size ** 2 or len(images) != len(labels):
        raise ValueError(f"images must be (N, {cfg.image_size ** 2}) with N labels, "
                         f"got {tuple(images.shape)} and {tuple(labels.shape)}")
    model = build_classifier(cfg).to(device).train()
    x, y = images.to(device, torch.float32), labels.to(device)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Warm up over the first 15% of steps, then cosine decay to near zero: a few epochs end settled.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15, cycle_momentum=False)
    order = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed + 1)    # dropout masks
        for epoch in range(cfg.epochs):
            perm = torch.randperm(len(x), generator=order).to(device)
            total = torch.zeros((), device=device)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])   # minimise -log p(true class | x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.detach()
            mean_loss = total.item() / steps_per_epoch
            if not math.isfinite(mean_loss):
                raise ValueError(f"classifier training diverged in epoch {epoch + 1} (loss {mean_loss})")
            if progress is not None:
                progress(epoch + 1, mean_loss)
    return model.eval().requires_grad_(False)


# ---- checkpoints ----------------------------------------------------------------------

@dataclass
class ClassifierCheckpoint:
    """A validated classifier file: float32 weights on the CPU, its config and its measured accuracy."""

    config: ClassifierConfig
    state_dict: dict[str, torch.Tensor]
    test_accuracy: float
    meta: dict

    def build(self, device: str | torch.device = "cpu") -> FashionClassifier:
        """The classifier, in eval mode and frozen, on device."""
        model = FashionClassifier(self.config)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval().requires_grad_(False)


def save_classifier(path: str | os.PathLike, model: FashionClassifier, test_accuracy: float,
                    meta: dict | None = None) -> Path:
    """Write the classifier atomically as a plain dict of tensors and numbers."""
    out = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().float().clone() for k, v in model.state_dict().items()},
        "test_accuracy": float(test_accuracy),
        "meta": dict(meta or {}),
    }
    return atomic_write(path, lambda f: torch.save(out, f))


def load_classifier(path: str | os.PathLike = DEFAULT_CLASSIFIER_PATH) -> ClassifierCheckpoint:
    """Read and validate a classifier checkpoint; raises ClassifierError."""
    p = Path(path)
    if not p.is_file():
        raise ClassifierError(f"{p}: no such classifier file (train one: python -m gan_core.classifier --out {p})")
    try:
        obj = read_weights_file(p, MAX_CLASSIFIER_BYTES)   # the same refusals as for GAN checkpoints
    except CheckpointError as e:
        raise ClassifierError(str(e)) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ClassifierError(f"{p}: not a GAN Explorer classifier checkpoint")
    if not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
        raise ClassifierError(f"{p}: classifier format version {quoted(obj.get('version'))} is newer than this program reads ({VERSION})")
    try:
        cfg = ClassifierConfig.from_dict(obj.get("config"))
    except (ValueError, TypeError) as e:
        raise ClassifierError(f"{p}: classifier config: {e}") from None
    sd, expected = obj.get("state_dict"), classifier_shapes(cfg)
    if not isinstance(sd, dict) or set(sd) != set(expected):
        raise ClassifierError(f"{p}: state_dict keys do not match the classifier its config describes")
    try:
        weights = {k: check_tensor(f"{p}: {k}", sd[k], shape) for k, shape in expected.items()}
    except CheckpointError as e:
        raise ClassifierError(str(e)) from None
    acc = obj.get("test_accuracy")
    if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not 0 <= acc <= 1:
        raise ClassifierError(f"{p}: test_accuracy {quoted(acc)} is not a fraction")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return ClassifierCheckpoint(cfg, weights, float(acc), meta)
