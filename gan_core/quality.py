"""How good are a generator's samples? Numbers judged by the Fashion-MNIST classifier, offline.

Without Inception weights (no internet), the project's own classifier
(gan_core/fashion_classifier.py) plays Inception's part, as TF-GAN does for MNIST:
  * Frechet distance between the classifier's penultimate features of generated
    and of real test images (the FID recipe with other features: not comparable
    with FIDs in papers);
  * class coverage: which classes the samples are predicted as (mode collapse
    shows as missing classes), the KL divergence of that mix from the real mix,
    and the classifier score (the Inception score's recipe);
  * memorisation: each sample's nearest training image by pixel distance,
    against how near real test images come to the training set.
Every number comes with its real-data floor: a real train subset of the same
size scored the same way. Everything is seeded and nothing here prints.

    from gan_core import load_classifier
    from gan_core.quality import evaluate_generator
    clf = load_classifier().build()
    result = evaluate_generator(G, clf, train_images, test_images, n=10_000, seed=0)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from .fashion_classifier import FashionClassifier
from .latent import z_from_seed

# progress(fraction done in [0, 1], what is being done)
Progress = Callable[[float, str], None]

# A class counts as covered when at least this fraction of samples is predicted as it:
# 1% is a tenth of its fair share of 10%, far above the classifier's stray errors on one mode.
COVERAGE_THRESHOLD = 0.01
MEMORISATION_SAMPLES = 200


def _no_progress(fraction: float, message: str) -> None:
    pass


def _span(progress: Progress, lo: float, hi: float) -> Progress:
    """A progress callback for one stage that reports into [lo, hi] of the whole."""
    return lambda f, msg: progress(lo + (hi - lo) * f, msg)


# ---- Frechet distance -----------------------------------------------------------------

def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F), unbiased, in float64, of features (N, F)."""
    x = torch.as_tensor(features).to(torch.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N >= 2, F), got {tuple(x.shape)}")
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / (len(x) - 1)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix, by eigendecomposition."""
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Frechet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2), in float64.

    |mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr(sqrt(cov1 cov2)), where
    tr(sqrt(cov1 cov2)) = sum of sqrt of the eigenvalues of sqrt(cov1) cov2 sqrt(cov1), a
    symmetric PSD matrix, so only symmetric eigendecompositions are needed.
    """
    mu1, mu2 = (torch.as_tensor(m).to(torch.float64) for m in (mu1, mu2))
    cov1, cov2 = (torch.as_tensor(c).to(torch.float64) for c in (cov1, cov2))
    f = mu1.shape[-1]
    if mu1.shape != (f,) or mu2.shape != (f,) or cov1.shape != (f, f) or cov2.shape != (f, f):
        raise ValueError(f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}, "
                         f"cov {tuple(cov1.shape)}, {tuple(cov2.shape)}")
    s1 = _sqrt_psd(cov1)
    m = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    d = mu1 - mu2
    fd = d @ d + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt
    return max(fd.item(), 0.0)   # rounding can leave -1e-12 for identical inputs


# ---- the classifier's view of a set of images -----------------------------------------

@torch.no_grad()
def classify(classifier: FashionClassifier, images: torch.Tensor, batch_size: int = 2000,
             progress: Progress = _no_progress) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate features (N, F) float32 and class probabilities (N, C) float64 of images (N, 784), on the CPU."""
    was_training = classifier.training
    classifier.eval()      # dropout off: the same image always gives the same features
    dev = next(classifier.parameters()).device
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        h = classifier.features(images[i:i + batch_size].to(dev, torch.float32))   # (B, F)
        feats.append(h.cpu())
        probs.append(torch.softmax(classifier.head(h).double(), 1).cpu())          # (B, C)
        progress(min(i + batch_size, len(images)) / len(images), "classifying images")
    classifier.train(was_training)
    return torch.cat(feats), torch.cat(probs)


def class_histogram(probs: torch.Tensor) -> torch.Tensor:
    """Fraction of images predicted as each class (C,), float64, from probabilities (N, C)."""
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).double()
    return counts / counts.sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p || q) in nats for two distributions over classes (0 log 0 = 0)."""
    p, q = p.double(), q.double()
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum().item()


def classifier_score(probs: torch.Tensor) -> float:
    """exp(mean over images of KL(p(y|x) || p(y))): the Inception score's recipe, between 1 and C.

    High when each image is confidently one class and the classes are evenly used.
    One split over all N images (papers average 10 splits; with N = 10,000 the difference is small).
    """
    p = probs.double()
    p_y = p.mean(0, keepdim=True)                                              # (1, C)
    kl = (torch.special.xlogy(p, p) - torch.special.xlogy(p, p_y)).sum(1)      # (N,)
    return math.exp(kl.mean().item())


# ---- memorisation: nearest training image ---------------------------------------------

@torch.no_grad()
def nearest_train(queries: torch.Tensor, train_images: torch.Tensor,
                  chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query (Q, 784), the L2 distance (Q,) to its nearest train image (M, 784) and that image's index (Q,).

    Chunked |q|^2 - 2 q.t + |t|^2 finds the nearest in a few matmuls; the winner's distance
    is then recomputed directly, since that expansion loses precision for near-copies.
    """
    dev = train_images.device
    q = queries.to(dev, torch.float32)
    q2 = (q * q).sum(1, keepdim=True)                                          # (Q, 1)
    best = torch.full((len(q),), math.inf, device=dev)
    best_idx = torch.zeros(len(q), dtype=torch.long, device=dev)
    for i in range(0, len(train_images), chunk):
        t = train_images[i:i + chunk].to(torch.float32)                        # (T, 784)
        d2 = torch.addmm(q2 + (t * t).sum(1), q, t.T, alpha=-2)                # (Q, T) squared distances
        m, j = d2.min(1)
        better = m < best
        best = torch.where(better, m, best)
        best_idx = torch.where(better, j + i, best_idx)
    dist = (q.double() - train_images[best_idx].double()).norm(dim=1)
    return dist.float().cpu(), best_idx.cpu()


# ---- generation -----------------------------------------------------------------------

@torch.no_grad()
def generate_images(G: nn.Module, n: int, seed: int = 0, batch_size: int = 2000) -> torch.Tensor:
    """n images (n, 784) float32 on the CPU from z = z_from_seed(seed, n, latent_dim): image i is G(z[i])."""
    first = next(G.parameters())
    latent_dim = first.shape[1]   # G's first Linear maps latent_dim -> hidden
    z = z_from_seed(seed, n, latent_dim)
    return torch.cat([G(z[i:i + batch_size].to(first.device)).float().cpu() for i in range(0, n, batch_size)])


# ---- evaluations ----------------------------------------------------------------------

@dataclass
class RealReference:
    """What the real data looks like to the classifier: computed once, reused by every evaluation."""

    test_mu: torch.Tensor             # (F,) mean test feature
    test_cov: torch.Tensor            # (F, F) test feature covariance
    real_class_mix: torch.Tensor      # (C,) true label mix of the test set
    nearest_distances: torch.Tensor   # (S,) L2 from sampled test images to their nearest train image
    nearest_indices: torch.Tensor     # (S,) index of that train image
    test_sample: torch.Tensor         # (S,) which test images were sampled
    seed: int


def real_reference(classifier: FashionClassifier, train_images: torch.Tensor, test_images: torch.Tensor,
                   test_labels: torch.Tensor | None = None, seed: int = 0,
                   memorisation_samples: int = MEMORISATION_SAMPLES,
                   progress: Progress = _no_progress) -> RealReference:
    """Classify the test set and measure how near real test images lie to the train set."""
    feats, probs = classify(classifier, test_images, progress=_span(progress, 0, 0.8))
    mu, cov = feature_statistics(feats)
    C = probs.shape[1]
    if test_labels is None:
        mix = torch.full((C,), 1 / C, dtype=torch.float64)   # Fashion-MNIST's test set is exactly balanced
    else:
        mix = torch.bincount(test_labels.cpu(), minlength=C).double() / len(test_labels)
    progress(0.8, "finding nearest train images of real test images")
    g = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(test_images), generator=g)[:memorisation_samples]
    dist, idx = nearest_train(test_images[sample.to(test_images.device)], train_images)
    progress(1.0, "real reference done")
    return RealReference(mu, cov, mix, dist, idx, sample, seed)


@dataclass
class Evaluation:
    """Every number for one set of images, beside what real test data gives. Plain values only."""

    what: str                          # "generator" or "real train subset" (the floor)
    n: int                             # images scored
    seed: int
    frechet_distance: float            # classifier-feature FD to the real test set; lower is better
    class_fractions: list[float]       # (C,) fraction of images predicted as each class
    real_class_mix: list[float]        # (C,) the test set's true label mix
    classes_present: int               # classes with at least coverage_threshold of the images
    coverage_threshold: float
    class_kl: float                    # KL(class_fractions || real_class_mix), nats; 0 is a perfect mix
    classifier_score: float            # exp E KL(p(y|x) || p(y)), between 1 and C; higher is better
    nearest_distances: list[float]     # (S,) L2 of scored images to their nearest train image ([-1, 1] pixels)
    nearest_indices: list[int]         # (S,) index of that train image
    nearest_median: float
    nearest_min: float
    test_nearest_median: float         # the same for real test images: what "not a copy" looks like
    test_nearest_min: float
    closer_than_any_test: int          # scored images nearer to the train set than the nearest real test image
    # What tells an untrained G from a collapsed one (see verdict()): how sure the classifier is of each
    # image, and how much the images differ from each other.
    mean_confidence: float = math.nan  # mean over images of the classifier's top probability
    pixel_spread: float = math.nan     # mean over pixels of their standard deviation across images ([-1, 1] scale)

    def to_dict(self) -> dict:
        return asdict(self)


def _score(what: str, seed: int, images: torch.Tensor, feats: torch.Tensor, probs: torch.Tensor, ref: RealReference,
           nearest: tuple[torch.Tensor, torch.Tensor]) -> Evaluation:
    mu, cov = feature_statistics(feats)
    hist = class_histogram(probs)
    dist, idx = nearest
    test_min = ref.nearest_distances.min().item()
    return Evaluation(
        what=what, n=len(feats), seed=seed,
        frechet_distance=frechet_distance(mu, cov, ref.test_mu, ref.test_cov),
        class_fractions=hist.tolist(), real_class_mix=ref.real_class_mix.tolist(),
        classes_present=int((hist >= COVERAGE_THRESHOLD).sum()), coverage_threshold=COVERAGE_THRESHOLD,
        class_kl=kl_divergence(hist, ref.real_class_mix), classifier_score=classifier_score(probs),
        nearest_distances=dist.tolist(), nearest_indices=idx.tolist(),
        nearest_median=dist.median().item(), nearest_min=dist.min().item(),
        test_nearest_median=ref.nearest_distances.median().item(), test_nearest_min=test_min,
        closer_than_any_test=int((dist < test_min).sum()),
        mean_confidence=probs.max(1).values.mean().item(), pixel_spread=images.float().std(0).mean().item(),
    )


def _check(n: int, train_images: torch.Tensor, test_images: torch.Tensor, classifier: FashionClassifier) -> None:
    d = classifier.cfg.image_size ** 2
    for name, x in (("train_images", train_images), ("test_images", test_images)):
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"{name} must be (N, {d}), got {tuple(x.shape)}")
    if not isinstance(n, int) or not 2 <= n:
        raise ValueError(f"n must be an integer of at least 2, got {n!r}")


def _reference(reference: RealReference | None, classifier: FashionClassifier, train_images: torch.Tensor,
               test_images: torch.Tensor, test_labels: torch.Tensor | None, seed: int,
               memorisation_samples: int, progress: Progress) -> tuple[RealReference, float]:
    """The reference given, or one measured now as the first 40% of the progress; and that share."""
    if reference is not None:
        return reference, 0.0
    return real_reference(classifier, train_images, test_images, test_labels, seed, memorisation_samples,
                          _span(progress, 0, 0.4)), 0.4


def evaluate_generator(G: nn.Module, classifier: FashionClassifier, train_images: torch.Tensor, test_images: torch.Tensor,
                       n: int = 10_000, seed: int = 0, progress: Progress | None = None, *,
                       test_labels: torch.Tensor | None = None, reference: RealReference | None = None,
                       memorisation_samples: int = MEMORISATION_SAMPLES) -> Evaluation:
    """Score n samples of G (z from seed) against the real test set; pass reference to skip re-measuring it.

    The memorisation check uses the first memorisation_samples generated images.
    """
    _check(n, train_images, test_images, classifier)
    progress = progress or _no_progress
    reference, ref_share = _reference(reference, classifier, train_images, test_images, test_labels, seed,
                                      memorisation_samples, progress)
    progress(ref_share, "generating images")
    x = generate_images(G, n, seed)                                           # (n, 784)
    if x.shape[1] != train_images.shape[1]:
        raise ValueError(f"the generator makes images of {x.shape[1]} pixels, the data has {train_images.shape[1]}")
    feats, probs = classify(classifier, x, progress=_span(progress, ref_share + 0.05, 0.9))
    progress(0.9, "finding nearest train images of generated images")
    nearest = nearest_train(x[:memorisation_samples], train_images)
    result = _score("generator", seed, x, feats, probs, reference, nearest)
    progress(1.0, "done")
    return result


def evaluate_real_floor(classifier: FashionClassifier, train_images: torch.Tensor, test_images: torch.Tensor,
                        n: int = 10_000, seed: int = 0, progress: Progress | None = None, *,
                        test_labels: torch.Tensor | None = None, reference: RealReference | None = None,
                        memorisation_samples: int = MEMORISATION_SAMPLES) -> Evaluation:
    """The floor: n real train images (a seeded subset) scored exactly as a generator's samples are.

    A train subset is its own nearest neighbour, so its memorisation numbers are the test
    images' (the reference): what a generator that copies nothing should show.
    """
    _check(n, train_images, test_images, classifier)
    if n > len(train_images):
        raise ValueError(f"n = {n} is more than the {len(train_images)} train images")
    progress = progress or _no_progress
    reference, ref_share = _reference(reference, classifier, train_images, test_images, test_labels, seed,
                                      memorisation_samples, progress)
    # A different stream from the reference's test sample, so the two choices are unrelated.
    g = torch.Generator().manual_seed(seed + 1)
    subset = torch.randperm(len(train_images), generator=g)[:n]
    x = train_images[subset.to(train_images.device)]
    feats, probs = classify(classifier, x, progress=_span(progress, ref_share, 1.0))
    result = _score("real train subset", seed, x, feats, probs, reference,
                    (reference.nearest_distances, reference.nearest_indices))
    progress(1.0, "done")
    return result


# ---- one word for what the numbers say ------------------------------------------------------

# Measured with the project's classifier on 2,000 samples (the real floor: confidence 0.93, spread
# 0.55): an untrained G's samples are grey noise the classifier is unsure of (confidence 0.20,
# spread 0.07), and the book's G after 1-3 epochs is still unsure (0.41-0.69); a collapsed G draws
# one confident garment over and over (0.92, spread 0.02); the book's G after 500 epochs: 0.83, 0.51.
UNSURE = 0.75        # mean confidence under this share of the real floor's: the samples are not clothes yet
ALIKE = 0.5          # pixel spread under this share of the real floor's: the samples are near-copies of each other


@dataclass(frozen=True)
class Verdict:
    """What the numbers say about a generator, as one of four kinds, with the two ratios that decided it."""

    kind: str                # "unformed": not clothes yet (untrained or early); "collapsed": confident near-copies;
    #                          "missing classes": varied but some classes absent; "varied": none of these
    confidence_ratio: float  # mean confidence / the real floor's
    spread_ratio: float      # pixel spread / the real floor's


def verdict(gen: Evaluation, floor: Evaluation) -> Verdict:
    """Untrained or collapsed? Missing classes alone cannot tell: both show them. An untrained G's samples
    differ, but the classifier is unsure of each; a collapsed G's are confident and nearly all alike."""
    confidence = gen.mean_confidence / floor.mean_confidence
    spread = gen.pixel_spread / floor.pixel_spread
    if confidence < UNSURE:
        kind = "unformed"
    elif spread < ALIKE:
        kind = "collapsed"
    elif gen.classes_present < len(gen.class_fractions):
        kind = "missing classes"
    else:
        kind = "varied"
    return Verdict(kind, confidence, spread)
