"""Judge a generator's samples offline: Frechet distance, class coverage, memorisation, beside the real-data floor.

    python -m gan_core.evaluate --checkpoint runs/book/checkpoint.pt
    python -m gan_core.evaluate --checkpoint book-g.pt --n 2000 --seed 1 --no-floor

Works for a GAN Explorer checkpoint or a book-style generator state_dict. The
numbers use the project's Fashion-MNIST classifier (checkpoints/classifier.pt)
in place of Inception, so they are comparable with each other, not with papers.
"""
from __future__ import annotations

import argparse
import textwrap
import time


from ..checkpoints import load_checkpoint
from ..fashion_classifier import DEFAULT_CLASSIFIER_PATH, load_classifier
from ..config import ConfigError
from ..data import CLASS_NAMES, load_fashion_mnist
from ..device import resolve_device
from ..quality import Evaluation, Verdict, evaluate_generator, evaluate_real_floor, real_reference, verdict
from .common import Parser, add_checkpoint_arg

MEANING_WIDTH = 58


def _rows(gen: Evaluation, floor: Evaluation | None) -> list[tuple[str, str, str, str]]:
    """(metric, generator value, floor value, what it means) for each line of the table."""
    S = len(gen.nearest_distances)
    pct = f"{gen.coverage_threshold:.0%}"
    C = len(gen.class_fractions)

    def both(fmt) -> tuple[str, str]:
        return fmt(gen), (fmt(floor) if floor is not None else "-")

    return [
        ("Frechet distance", *both(lambda e: f"{e.frechet_distance:.2f}"),
         "distance between the classifier's features of the images and of the real test set "
         "(means and covariances); lower is better, 0 is the same distribution"),
        (f"classes present (>= {pct})", *both(lambda e: f"{e.classes_present}/{C}"),
         f"classes that at least {pct} of the images are predicted as; an untrained G misses classes as a "
         "collapsed one does (the verdict below tells them apart)"),
        ("class-mix KL (nats)", *both(lambda e: f"{e.class_kl:.4f}"),
         "KL(predicted class mix || real mix); 0 when each class has its real share"),
        ("classifier score", *both(lambda e: f"{e.classifier_score:.2f}"),
         f"exp E[KL(p(y|x) || p(y))], 1 to {C} (the Inception score's recipe); high when each image "
         "is clearly one class and all classes are used"),
        ("nearest train L2, median", f"{gen.nearest_median:.2f}", f"{gen.test_nearest_median:.2f}",
         f"pixel distance ([-1, 1] scale) from {S} images to their closest train image; the floor "
         f"is {S} real test images. Far below the floor = copies of training images"),
        ("nearest train L2, min", f"{gen.nearest_min:.2f}", f"{gen.test_nearest_min:.2f}",
         "the closest single pair"),
        ("closer than any test image", f"{gen.closer_than_any_test}/{S}", f"0/{S}",
         "images nearer to a train image than the nearest real test image is"),
    ]


def format_report(gen: Evaluation, floor: Evaluation | None) -> str:
    """The evaluation as a self-explaining text table, the real floor beside each number."""
    rows = _rows(gen, floor)
    w0 = max(len(r[0]) for r in rows)
    head = f"{'':{w0}}  {'generator':>10}  {'real floor':>10}  what it means"
    lines = [head, "-" * (len(head) + MEANING_WIDTH - len("what it means"))]
    indent = " " * (w0 + 26)
    for name, g, f, meaning in rows:
        text = textwrap.wrap(meaning, MEANING_WIDTH)
        lines.append(f"{name:{w0}}  {g:>10}  {f:>10}  {text[0]}")
        lines += [indent + t for t in text[1:]]
    lines += ["", "predicted class mix          generator  real floor  real test labels"]
    fl = floor.class_fractions if floor is not None else [None] * len(gen.class_fractions)
    for name, g, f, r in zip(CLASS_NAMES, gen.class_fractions, fl, gen.real_class_mix):
        fs = f"{f:.1%}" if f is not None else "-"
        lines.append(f"  {name:<26} {g:>9.1%}  {fs:>10}  {r:>16.1%}")
    if floor is None:
        lines += ["", "real floor not computed (--no-floor); the memorisation floor is always shown"]
    else:
        lines += ["", f"real floor: {floor.n} real train images (seeded subset) scored the same way as the samples",
                  "", *textwrap.wrap("verdict: " + verdict_line(verdict(gen, floor)), len(lines[1]))]
    return "\n".join(lines)


def verdict_line(v: Verdict) -> str:
    """gan_core.verdict in one sentence, with the two ratios it rests on."""
    ratios = (f"(confidence {v.confidence_ratio:.2f} and pixel spread {v.spread_ratio:.2f} of the real data's)")
    return {"unformed": f"unformed: the classifier is unsure of each image {ratios}, so G is untrained, early or "
                        "diverged, not collapsed",
            "collapsed": f"collapsed: confident images that are nearly all alike {ratios}: mode collapse",
            "missing classes": f"some classes missing, but the images are varied {ratios}: G has dropped those "
                               "classes",
            "varied": f"varied: every class present {ratios}"}[v.kind]


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m gan_core.evaluate", description=__doc__.splitlines()[0])
    add_checkpoint_arg(p)
    p.add_argument("--classifier", default=str(DEFAULT_CLASSIFIER_PATH),
                   help="classifier checkpoint (default: the project's checkpoints/classifier.pt)")
    p.add_argument("--n", type=int, default=10_000, help="generated images to score (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of z and of the real subsets")
    p.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's idx files")
    p.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True,
                   help="also score n real train images the same way, the floor beside each number (default: on)")
    args = p.parse_args(argv)
    if not 10 <= args.n <= 60_000:
        raise ConfigError(f"--n must be between 10 and 60000, got {args.n}")
    if args.seed < 0:
        raise ConfigError(f"--seed must not be negative, got {args.seed}")
    device = resolve_device(args.device)
    ck = load_checkpoint(args.checkpoint, arch=args.arch)
    clf_ck = load_classifier(args.classifier)
    if clf_ck.config.image_size != ck.config.image_size:
        raise ConfigError(f"the generator makes {ck.config.image_size}x{ck.config.image_size} images, "
                          f"the classifier reads {clf_ck.config.image_size}x{clf_ck.config.image_size}")
    G, clf = ck.build_generator(device), clf_ck.build(device)
    x_train, _ = load_fashion_mnist(train=True, data_dir=args.data_dir, device=device)
    x_test, y_test = load_fashion_mnist(train=False, data_dir=args.data_dir, device=device)

    where = f"epoch {ck.epoch}" if ck.source != "book state_dict" else "book-style state_dict"
    print(f"sample quality of {args.checkpoint} ({where})")
    print(f"judged by {args.classifier} (Fashion-MNIST test accuracy {clf_ck.test_accuracy:.3f}); "
          f"{args.n} samples, seed {args.seed}; against the {len(x_test)} real test images")
    print(flush=True)   # the header shows while the numbers are computed
    t0 = time.perf_counter()
    ref = real_reference(clf, x_train, x_test, y_test, seed=args.seed)
    gen = evaluate_generator(G, clf, x_train, x_test, n=args.n, seed=args.seed, reference=ref)
    floor = evaluate_real_floor(clf, x_train, x_test, n=args.n, seed=args.seed, reference=ref) if args.floor else None
    seconds = time.perf_counter() - t0

    print(format_report(gen, floor))
    print(f"evaluated in {seconds:.1f} s on {device}")
    return 0

