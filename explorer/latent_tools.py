"""What the latent pages share: main directions and their labels, steering, a latent map, projections.

Everything here that takes more than a few milliseconds is kept per version of the
generator's weights (`model_key`, a digest of them: a checkpoint file, a run's latest
epoch or an upload each have their own), so a second visit, a second student or a
slider move never computes it again:
    directions     SeFa (gan_core.sefa_directions): a few ms, deterministic, no samples
    labels         what each direction does, by the quality classifier (about 1.5 s for 8)
    projections    the z whose picture is closest to a target (about 0.3 s, plus 0.25 s for the baseline)
Steering is not kept: it starts from whatever z is on the page, and takes 0.01-0.5 s.

The maths is gan_core's; this module only chooses, caches and words it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from torch import nn

from gan_core import (CLASS_NAMES, ClassifierError, Directions, SteerPath, best_of_random, decode, direction_strip,
                      grid, interpolate, label_direction, project_image, sefa_directions, steer, to_uint8)
from gan_core.quality import nearest_train   # not in gan_core's top-level names; the Quality page's measure

from . import evaluations
from .i18n import t

DIRECTIONS = 8          # direction sliders on the Latent page: SeFa's strongest, which carry the class changes
SPAN = 3.0              # sliders and strips run from -3 to +3 standard deviations of z along each direction
STRIP_FRAMES = 7        # -3, -2, ..., +3
STRIP_SCALE = 2         # 28 px frames at 56 px
# SeFa takes the eigenvectors of a (latent x latent) matrix: 0.1 s at 512, about 1 s at 1,024 and a minute at
# 4,096 here. A z wider than this gets no directions (its raw sliders still work).
MAX_DIRECTION_DIM = 512
ANIMATION_FRAMES = 30   # a steering path plays in at most this many frames
RANDOM_TRIES = 10_000   # the baseline a projection must beat: the closest of this many random z
KEEP_PROJECTIONS = 8    # projections a session keeps for the map and the Interpolate page


def model_key(G: nn.Module) -> str:
    """The generator's version: a digest of its weights (about 2 ms for the book's G)."""
    return evaluations.weights_digest(G)


def class_name(index: int) -> str:
    """A Fashion-MNIST class in the page's language (charts.CLASS_LABELS marks them for translation)."""
    return t(CLASS_NAMES[index])


# ---- the classifier (labels, steering) ----------------------------------------------------

def classifier(image_size: int) -> tuple[evaluations.Judge | None, str | None]:
    """The quality classifier, or None and why not (in the page's language, the library's reason inside)."""
    path = evaluations.classifier_path()
    try:
        judge = evaluations.judge(str(path), path.stat().st_mtime_ns)
    except (ClassifierError, OSError) as e:
        return None, t("The quality classifier cannot be loaded: {reason}", reason=str(e)[:200])
    if judge.image_size != image_size:
        return None, t("The quality classifier reads {classifier} px pictures; this generator draws {generator} px.",
                       classifier=judge.image_size, generator=image_size)
    return judge, None


# ---- directions ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=16)
def directions(_G: nn.Module, key: str, latent_dim: int) -> Directions | None:
    """SeFa's strongest directions of this generator (up to DIRECTIONS), or None if z is too wide for them."""
    if latent_dim > MAX_DIRECTION_DIM:
        return None
    return sefa_directions(_G, k=min(DIRECTIONS, latent_dim))


@st.cache_resource(show_spinner=False, max_entries=16)
def _labels_box(key: str, classifier_version: tuple[str, int]) -> evaluations.Once:
    return evaluations.Once()


def labels_ready(key: str, judge: evaluations.Judge) -> list | None:
    """The directions' labels if they were computed already (never blocks)."""
    return _labels_box(key, judge.version).value


def labels(G: nn.Module, key: str, dirs: Directions, judge: evaluations.Judge, image_size: int) -> list:
    """What moving along each direction does (gan_core.DirectionLabel), computed once per model version."""
    return _labels_box(key, judge.version).get(
        lambda: [label_direction(G, judge.model, v, span=SPAN, image_size=image_size) for v in dirs.vectors])


def label_words(label) -> str:
    """A DirectionLabel as the page says it: 'Dress → Sneaker', 'darker → brighter', ..."""
    if label.kind == "class":
        return f"{t(label.minus_class)} → {t(label.plus_class)}"
    ends = {"brightness": (t("darker"), t("brighter")), "width": (t("narrower"), t("wider")),
            "height": (t("shorter"), t("taller"))}[label.kind]
    low, high = ends if label.change >= 0 else ends[::-1]
    return f"{low} → {high}"


def compose(base: list[float], amounts: list[float], dirs: Directions | None) -> torch.Tensor:
    """The page's z: the base z plus each direction times its slider, z = z0 + sum_i a_i n_i; (latent,)."""
    z = torch.tensor(base, dtype=torch.float32)
    if dirs is not None and amounts:
        z = z + torch.tensor(amounts, dtype=torch.float32) @ dirs.vectors   # (k,) @ (k, latent)
    return z


def strips(G: nn.Module, base: torch.Tensor, dirs: Directions, image_size: int) -> list[np.ndarray]:
    """For each direction, the base z moved from -SPAN to +SPAN along it: one uint8 row of STRIP_FRAMES pictures."""
    return [grid(direction_strip(G, base, v, STRIP_FRAMES, SPAN, image_size)[1], ncols=STRIP_FRAMES,
                 scale=STRIP_SCALE) for v in dirs.vectors]


# ---- steering -----------------------------------------------------------------------------

def steer_to(G: nn.Module, judge: evaluations.Judge, z: torch.Tensor, target: int) -> SteerPath:
    """Walk z toward class `target` (gan_core.steer: at most 50 steps of 0.3 rad, 8 climbers)."""
    return steer(G, judge.model, z, target)


def animation(G: nn.Module, path: torch.Tensor, image_size: int, frames: int = ANIMATION_FRAMES) -> np.ndarray:
    """The steering path (T, latent) as at most `frames` pictures (n, s, s): slerp between its steps, last one last."""
    points = path
    if len(points) - 1 > frames:   # a long walk: keep evenly spaced steps, always the first and last
        points = points[np.linspace(0, len(points) - 1, frames + 1).round().astype(int)]
    if len(points) < 2:
        return decode(G, points, image_size)
    between = max(1, frames // (len(points) - 1))
    z = torch.cat([interpolate(a, b, between + 1, "slerp")[:-1] for a, b in zip(points[:-1], points[1:])]
                  + [points[-1:]])
    return decode(G, z, image_size)


# ---- projection ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    """A target picture and what G can make of it: our projection, and the best of many random z."""

    target: np.ndarray         # (s, s) uint8
    z: list[float]
    image: np.ndarray          # G(z), (s, s) uint8
    mse: float                 # pixel MSE in [-1, 1] units
    random_image: np.ndarray   # the best of RANDOM_TRIES random z
    random_mse: float


@st.cache_data(show_spinner=False, max_entries=64)
def project(_G: nn.Module, key: str, target: np.ndarray) -> Found:
    """project_image and best_of_random for one target (s, s) uint8, once per model version and picture."""
    p = project_image(_G, target, image_size=target.shape[0])
    r = best_of_random(_G, target, n=RANDOM_TRIES, image_size=target.shape[0])
    return Found(target, p.z.tolist(), p.image, p.mse, r.image, r.mse)


@st.cache_data(show_spinner=False, max_entries=64)
def nearest_real(target: np.ndarray) -> tuple[np.ndarray, int, float] | None:
    """The training image closest to the target: (s, s) uint8, its index, pixel MSE; None without the data set."""
    data = evaluations.real_data()
    if isinstance(data, str) or data.train.shape[1] != target.size:
        return None
    x = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).reshape(1, -1) / 127.5 - 1
    dist, idx = nearest_train(x, data.train)
    side = target.shape[0]
    return to_uint8(data.train[int(idx[0])].reshape(1, -1), side)[0], int(idx[0]), float(dist[0]) ** 2 / target.size


def test_image(data: evaluations.RealData, cls: int, k: int) -> tuple[np.ndarray, int]:
    """The k-th real test image of class cls (wrapping around), as (s, s) uint8, and its index in the test set."""
    of_class = (data.test_labels == cls).nonzero().flatten()
    i = int(of_class[k % len(of_class)])
    side = int(data.test.shape[1] ** 0.5)
    return to_uint8(data.test[i].reshape(1, -1), side)[0], i


def class_count(data: evaluations.RealData, cls: int) -> int:
    return int((data.test_labels == cls).sum())


def picture_key(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def set_latent_base(z: list[float]) -> None:
    """Make z the Latent page's base z, its direction sliders at 0: the page then shows G(z)."""
    st.session_state["latent.base"] = [float(v) for v in z]
    for i in range(DIRECTIONS):
        st.session_state[f"latent.a{i}"] = 0.0
    st.session_state["latent.map.cell"] = None
    st.session_state.pop("latent.steered", None)


def keep(found: Found, name: str, key: str) -> None:
    """Remember a projection for this session (newest first), so the map and the Interpolate page can use it."""
    kept = [p for p in st.session_state.get("project.kept", [])
            if not (p["model"] == key and p["picture"] == picture_key(found.target))]
    kept.insert(0, {"name": name, "model": key, "picture": picture_key(found.target), "z": found.z,
                    "target": found.target, "mse": found.mse})
    st.session_state["project.kept"] = kept[:KEEP_PROJECTIONS]


def kept(key: str) -> list[dict]:
    """This session's projections made with this generator (a z only means that picture to the G that found it)."""
    return [p for p in st.session_state.get("project.kept", []) if p["model"] == key]
