"""Time and score the latent tools on the shipped model: projection, steering, and SeFa against GANSpace.

    python bench/latent_tools.py                 # timings, steering per class, projection vs random
    python bench/latent_tools.py --compare       # also the SeFa / GANSpace comparison (about a minute more)
    python bench/latent_tools.py --quick         # 20 z per class instead of 100, 10 test pictures instead of 20

Run from the repository root with the project's Python. Prints plain lines; nothing is written.
--threads sets torch's thread count for the whole run (default 1: see gan_core/verdicts.torch_threads).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gan_core import CLASS_NAMES, load_checkpoint, load_classifier, load_fashion_mnist, z_from_seed  # noqa: E402
from gan_core.directions import direction_effects, ganspace_directions, sefa_directions  # noqa: E402
from gan_core.projection import best_of_random, project_image  # noqa: E402
from gan_core.steering import steer, steer_batch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(f, repeats: int) -> float:
    """Median seconds of f() over `repeats` calls, after one warm-up call."""
    f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_speed(G, C, x: torch.Tensor, threads: int) -> None:
    """Seconds to project one picture, to beat it at random, and to steer one z to each class."""
    z = z_from_seed(7, 1)[0]
    t_proj = timed(lambda: project_image(G, x[0], threads=threads), 5)
    t_base = timed(lambda: best_of_random(G, x[0], threads=threads), 3)
    # Steering time depends on how far the class is: time every class from one z, report the spread.
    t_steer = [timed(lambda c=c: steer(G, C, z, c, threads=threads), 2) for c in range(10)]
    print(f"projection, 16 restarts x 200 steps: {t_proj:.3f} s (median of 5); best of 10k random: {t_base:.3f} s")
    print(f"steering one z, per target class: median {statistics.median(t_steer):.3f} s, max {max(t_steer):.3f} s")


def bench_steering(G, C, n: int, threads: int) -> None:
    """Share of n random z that arrive in each class, with 8 climbers and with one."""
    z = z_from_seed(123, n)
    print(f"steering {n} random z (seed 123) to each class, at most 50 steps, 8 climbers each; "
          "arrived = the classifier's top class with p >= 0.5:")
    print(f"  {'class':12s} {'arrived':>7s} {'mean steps':>10s} {'alone':>6s}")
    for c, name in enumerate(CLASS_NAMES):
        b = steer_batch(G, C, z, c, threads=threads)
        alone = steer_batch(G, C, z, c, candidates=1, threads=threads)    # one climber, no kicks
        steps = b.arrived_at[b.reached].mean() if b.reached.any() else float("nan")
        print(f"  {name:12s} {b.reached.mean():7.0%} {steps:10.1f} {alone.reached.mean():6.0%}")


def bench_projection(G, images: torch.Tensor, labels: torch.Tensor, threads: int) -> None:
    """Pixel MSE of our projection against the best of 10,000 random z, on real test pictures."""
    ours, base = [], []
    for x in images:
        ours.append(project_image(G, x, threads=threads).mse)
        base.append(best_of_random(G, x, n=10_000, seed=1, threads=threads).mse)
    ours, base = np.array(ours), np.array(base)
    print(f"projection of {len(images)} test pictures ({', '.join(str(int(v)) for v in labels)} by class):")
    print(f"  pixel MSE in [-1, 1]: ours mean {ours.mean():.4f} (range {ours.min():.4f}-{ours.max():.4f}), "
          f"best of 10k random mean {base.mean():.4f}; ratio random/ours median {np.median(base / ours):.2f}, "
          f"min {(base / ours).min():.2f}; ours better on {(ours < base).sum()}/{len(ours)}")


def bench_directions(G, C) -> None:
    """SeFa against GANSpace (and random directions): pixel change, class change, labels, agreement."""
    t0 = time.perf_counter()
    sefa = sefa_directions(G, k=8)
    t1 = time.perf_counter()
    gan = ganspace_directions(G, k=8)
    t2 = time.perf_counter()
    rnd = torch.randn(8, sefa.vectors.shape[1], generator=torch.Generator().manual_seed(0))
    rnd = rnd / rnd.norm(dim=1, keepdim=True)
    print(f"directions: SeFa {1e3 * (t1 - t0):.1f} ms, GANSpace (50,000 samples) {t2 - t1:.2f} s")
    for name, v in (("SeFa", sefa.vectors), ("GANSpace", gan.vectors), ("random", rnd)):
        fx = direction_effects(G, C, v)
        labels = fx["labels"]
        ends = [f"{lb.minus_class}->{lb.plus_class} {lb.class_shift:.2f}" if lb.kind == "class"
                else f"{lb.kind} {lb.change:+.1f}" for lb in labels]
        # How distinct the directions' outcomes are: cosine between their per-class shift vectors (8, 10).
        sh = torch.tensor([list(lb.shifts.values()) for lb in labels])
        sh = sh / sh.norm(dim=1, keepdim=True).clamp_min(1e-12)
        overlap = (sh @ sh.T).abs()[~torch.eye(len(sh), dtype=torch.bool)].mean()
        print(f"  {name:8s} pixel RMS change per unit step {np.round(fx['pixel_change_per_unit'], 2)} "
              f"mean {fx['pixel_change_per_unit'].mean():.3f}")
        print(f"  {'':8s} share of z changing class -3..+3 {np.round(fx['class_changed_share'], 2)} "
              f"mean {fx['class_changed_share'].mean():.2f}; mean |cos| between directions' class shifts "
              f"{overlap:.2f}")
        print(f"  {'':8s} labels (class lost->gained, share): {'; '.join(ends)}")
    cos = (sefa.vectors @ gan.vectors.T).abs()                           # (8, 8)
    angles = torch.linalg.svdvals(sefa.vectors @ gan.vectors.T)          # cosines of the principal angles
    print(f"  |cos| SeFa i vs GANSpace i: {np.round(cos.diagonal().numpy(), 2)}; best match per SeFa "
          f"direction: {cos.argmax(1).tolist()} at {np.round(cos.max(1).values.numpy(), 2)}")
    print(f"  the two top-8 subspaces: cosines of principal angles {np.round(angles.numpy(), 2)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compare", action="store_true", help="also compare SeFa and GANSpace")
    p.add_argument("--quick", action="store_true", help="fewer z and pictures")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    G = load_checkpoint(ROOT / "checkpoints" / "book.pt").build_generator()
    C = load_classifier(ROOT / "checkpoints" / "classifier.pt").build()
    x, y = load_fashion_mnist(train=False)
    per_class = 1 if args.quick else 2
    idx = [int(i) for c in range(10) for i in torch.nonzero(y == c)[:per_class, 0]]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {torch.get_num_threads()} in use")
    bench_speed(G, C, x[idx], args.threads)
    bench_projection(G, x[idx], y[idx], args.threads)
    bench_steering(G, C, 20 if args.quick else 100, args.threads)
    if args.compare:
        bench_directions(G, C)


if __name__ == "__main__":
    main()
