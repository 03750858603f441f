"""How often the Lesson page's one step lowers both losses: the saved Adam continued, against a fresh Adam.

    python scripts/lesson_steps.py checkpoints/book.pt checkpoints/dcgan.pt --batches 10

Each batch is the page's (gan_core.step_inputs with seeds 0, 1, ...); "lowered" means D's update lowered
D's loss on that batch and G's update lowered G's (StepAnatomy.lowered). Prints a Markdown table.
"""
from __future__ import annotations

import argparse

from gan_core import load_checkpoint, load_fashion_mnist, step_anatomy, step_inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--batches", type=int, default=10)
    args = ap.parse_args()
    x, _ = load_fashion_mnist(True)
    print("| checkpoint | Adam's steps | lowered, saved Adam | lowered, fresh Adam |\n| --- | --- | --- | --- |")
    for path in args.checkpoints:
        ck = load_checkpoint(path)
        G, D, cfg = ck.build_generator(), ck.build_discriminator(), ck.config
        if D is None or ck.adam is None:
            print(f"| {path} | (no D or no Adam state) | | |")
            continue
        saved = fresh = steps = 0
        for seed in range(args.batches):
            batch = step_inputs(x, cfg, seed)
            a = step_anatomy(G, D, *batch, cfg, adam=ck.adam)
            saved, steps = saved + a.lowered, a.adam_steps
            fresh += step_anatomy(G, D, *batch, cfg).lowered
        print(f"| {path} | {steps:,} | {saved}/{args.batches} | {fresh}/{args.batches} |")


if __name__ == "__main__":
    main()
