"""What the Quality page measures, held once per server: the data, the classifier, the real reference, each evaluation.

The numbers are gan_core's (gan_core/quality.py, the same as `python -m
gan_core.evaluate --n N --seed S`). Measuring the real data is the slow part
(about 12 s on two cores) and is the same for every model, so it is kept apart
and shared; a model then costs only its own samples (about 4 s).
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st
import torch
from torch import nn

from gan_core import (to_uint8, DEFAULT_CLASSIFIER_PATH, DataNotFoundError, Evaluation,
                      decode, evaluate_generator, evaluate_real_floor, load_classifier, load_fashion_mnist,
                      real_reference, z_from_seed)

from . import env
from .i18n import t

N_CHOICES = (500, 1000, 2000, 5000, 10_000)   # the CLI scores 10,000; 2,000 is the page's default, quick in class
DEFAULT_N = 2000
N_KEY = "quality.n"   # the Quality page's "Samples to score": other pages that score use the same number

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RealData:
    train: torch.Tensor         # (60000, 784) in [-1, 1]
    test: torch.Tensor          # (10000, 784)
    test_labels: torch.Tensor   # (10000,)


@dataclass(frozen=True)
class Judge:
    """The classifier that plays Inception's part, and which file version it is (part of every cache key)."""

    model: nn.Module
    test_accuracy: float
    image_size: int
    version: tuple[str, int]    # (path, mtime_ns)


@st.cache_resource(show_spinner=False)   # the page shows a spinner in its own language
def real_data() -> RealData | str:
    """The data set, or why it was not found; the failure is kept too, since looking may probe the network."""
    try:
        x_train, _ = load_fashion_mnist(train=True)
        x_test, y_test = load_fashion_mnist(train=False)
    except DataNotFoundError as e:
        return str(e)
    return RealData(x_train, x_test, y_test)


def classifier_path() -> Path:
    """The checkpoints folder's classifier.pt if it has one, else the one shipped with the project."""
    p = env.checkpoints_root() / "classifier.pt"
    return p if p.is_file() else DEFAULT_CLASSIFIER_PATH


@st.cache_resource(show_spinner=False, max_entries=4)
def judge(path: str, mtime_ns: int) -> Judge:
    """The classifier file, loaded once per version of it; raises ClassifierError."""
    ck = load_classifier(path)
    return Judge(ck.build("cpu"), ck.test_accuracy, ck.config.image_size, (path, mtime_ns))


def weights_digest(G: nn.Module) -> str:
    """What an evaluation is kept under: the generator's weights, wherever they came from (file, run, upload)."""
    h = hashlib.sha256()
    for name, w in G.state_dict().items():
        h.update(name.encode())
        h.update(w.detach().cpu().numpy().tobytes())
    return h.hexdigest()


# ---- computed once, with the progress bar of whoever asks first --------------------------

class Once:
    """A value computed by the first script run that asks for it; runs asking meanwhile wait for it.

    Why not st.cache_data around the evaluation: it records the progress bar's updates and
    replays them on every later hit, which fails, since the bar is drawn outside the cached
    function. So the cache holds this box, and the work runs outside it. A run interrupted
    midway (a widget changed) leaves the box empty for the next one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = None

    def get(self, compute: Callable[[], object]):
        with self._lock:
            if self.value is None:
                self.value = compute()
        return self.value


@st.cache_resource(show_spinner=False, max_entries=4)
def _reference_box(judge_version: tuple[str, int], seed: int) -> Once:
    return Once()


@st.cache_resource(show_spinner=False, max_entries=64)
def _evaluation_box(what: str, judge_version: tuple[str, int], n: int, seed: int) -> Once:
    return Once()


def evaluate(G: nn.Module, n: int, seed: int, data: RealData, clf: Judge,
             progress: Progress) -> tuple[Evaluation, Evaluation]:
    """G's evaluation and the real floor beside it; what is not kept yet is computed now, reporting to progress."""
    ref = _reference_box(clf.version, seed)
    gen = _evaluation_box(f"generator {weights_digest(G)}", clf.version, n, seed)
    floor = _evaluation_box("real floor", clf.version, n, seed)
    stages = [
        (ref, t("Measuring the real data (once for every model)"),
         lambda p: real_reference(clf.model, data.train, data.test, data.test_labels, seed=seed, progress=p)),
        (gen, t("Scoring this model's samples"),
         lambda p: evaluate_generator(G, clf.model, data.train, data.test, n=n, seed=seed, progress=p,
                                      reference=ref.value)),
        (floor, t("Scoring real training images the same way"),
         lambda p: evaluate_real_floor(clf.model, data.train, data.test, n=n, seed=seed, progress=p,
                                       reference=ref.value)),
    ]
    pending = [s for s in stages[1:] if s[0].value is None]
    if pending and ref.value is None:   # the reference only matters for what is still to score
        pending.insert(0, stages[0])
    for i, (box, what, compute) in enumerate(pending):
        # Each stage fills its share of one bar; the library reports fractions of its own work, in English.
        box.get(lambda: compute(lambda f, msg: progress((i + f) / len(pending), f"{what}: {msg}")))
    return gen.value, floor.value


# ---- what the page shows ----------------------------------------------------------------

def number_rows(gen: Evaluation, floor: Evaluation) -> list[tuple[str, str, str, str]]:
    """(name, this model, real data, what it means) for the headline numbers."""
    C = len(gen.class_fractions)
    return [
        (t("Frechet distance"), f"{gen.frechet_distance:.2f}", f"{floor.frechet_distance:.2f}",
         t("How far the classifier's features of the samples lie from those of real test images. Lower is better.")),
        (t("Classes present"), f"{gen.classes_present}/{C}", f"{floor.classes_present}/{C}",
         t("Classes that at least {share:.0%} of samples look like. A trained G that leaves classes out has "
           "collapsed; an untrained one misses them too.", share=gen.coverage_threshold)),
        (t("Class-mix KL"), f"{gen.class_kl:.3f}", f"{floor.class_kl:.3f}",
         t("How far the mix of classes is from the real mix, in nats. 0: every class in its real share.")),
        (t("Classifier score"), f"{gen.classifier_score:.2f}", f"{floor.classifier_score:.2f}",
         t("The Inception score's recipe, 1 to {classes}: high when each sample is clearly one class and all are used.",
           classes=C)),
    ]


@dataclass(frozen=True)
class NearPair:
    sample: np.ndarray     # (28, 28) uint8, generated
    train: np.ndarray      # (28, 28) uint8, its nearest training image
    sample_index: int
    train_index: int
    distance: float        # L2 on the [-1, 1] pixel scale


def nearest_pairs(G: nn.Module, latent_dim: int, gen: Evaluation, data: RealData, count: int) -> list[NearPair]:
    """The `count` checked samples nearest to a training image (where a copy would show), with that image."""
    order = sorted(range(len(gen.nearest_distances)), key=gen.nearest_distances.__getitem__)[:count]
    # The library scored G(z) for z = z_from_seed(seed, n): draw all n to get the same rows, decode only these.
    z = z_from_seed(gen.seed, gen.n, latent_dim)[order]
    side = int(data.train.shape[1] ** 0.5)
    samples = decode(G, z, side)                                                # (count, 28, 28) uint8
    train_idx = [gen.nearest_indices[i] for i in order]
    train = to_uint8(data.train[train_idx], side)
    return [NearPair(s, t, i, j, gen.nearest_distances[i]) for s, t, i, j in zip(samples, train, order, train_idx)]
