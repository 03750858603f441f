"""The README's quality table: the real-data floor and each checkpoint, scored as gan_core.evaluate scores them.

    python scripts/quality_table.py checkpoints/book-snapshots/*.pt checkpoints/book.pt

Same classifier, n and seed as `python -m gan_core.evaluate` (defaults n=10000, seed 0), so
each row equals that command's numbers for the same checkpoint. Prints a Markdown table.
"""
from __future__ import annotations

import argparse

from gan_core import (load_checkpoint, load_classifier, evaluate_generator, evaluate_real_floor,
                      load_fashion_mnist, real_reference)


def row(name: str, e) -> str:
    return (f"| {name} | {e.frechet_distance:.2f} | {e.classes_present}/{len(e.class_fractions)} | "
            f"{e.class_kl:.3f} | {e.classifier_score:.2f} | {e.nearest_median:.2f} | "
            f"{e.closer_than_any_test}/{len(e.nearest_distances)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    clf = load_classifier().build("cpu")
    x_train, _ = load_fashion_mnist(True)
    x_test, y_test = load_fashion_mnist(False)
    ref = real_reference(clf, x_train, x_test, y_test, seed=args.seed)
    print(f"n={args.n} seed={args.seed}\n")
    print("| model | Frechet distance | classes present | class-mix KL | classifier score | "
          "nearest train L2 (median) | closer than any test image |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    floor = evaluate_real_floor(clf, x_train, x_test, n=args.n, seed=args.seed, reference=ref)
    # The floor's memorisation columns are real test images' (a train subset would find itself).
    print(row("real data, the floor (train subset vs test)", floor), flush=True)
    for path in args.checkpoints:
        ck = load_checkpoint(path)
        e = evaluate_generator(ck.build_generator(), clf, x_train, x_test, n=args.n, seed=args.seed, reference=ref)
        print(row(f"epoch {ck.epoch} (`{path}`)", e), flush=True)


if __name__ == "__main__":
    main()
