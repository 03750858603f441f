"""Images/s of DCGAN training steps on this machine, for a few ways of running them.

    python bench/dcgan_speed.py                       # CPU variants, 1 thread, 5 rounds of 6 steps each
    python bench/dcgan_speed.py --threads 2 --rounds 3
    python bench/dcgan_speed.py --device cuda         # the same on a GPU, plus float16 autocast

Variants (each a whole gan_core.dcgan_step.gan_step at batch 100, the shipped recipe):
  default        NCHW tensors, oneDNN convolutions (PyTorch's default on x86)
  channels-last  conv weights in channels-last layout, so oneDNN keeps activations NHWC too
  no-oneDNN      torch.backends.mkldnn off: PyTorch's own (im2col + GEMM) convolutions
  threads=N      the default with N intra-op threads (--threads)
The variants take turns within each round, so a machine whose load changes over the
run slows them alike; the median round is reported, twice: images per second of wall
time, and images per CPU-second this process used (all its threads together). On a
machine shared with other work the second is the steadier: it does not count the time
the scheduler gave to others, so it says what a variant costs, and wall time what it
got. Timings on a shared machine are only comparable within one run.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core import dcgan_step  # noqa: E402
from gan_core.config import GANConfig, arch_recipe  # noqa: E402
from gan_core.model import build_models  # noqa: E402
from gan_core.step import make_optimizers  # noqa: E402

BATCH = 100


def setup(device: str, channels_last: bool):
    cfg = GANConfig(**arch_recipe("dcgan"))
    G, D = build_models(cfg, device)
    if channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    gen = torch.Generator(device).manual_seed(0)
    x = torch.rand(BATCH, 784, device=device, generator=gen) * 2 - 1
    return G, D, opt_g, opt_d, x, gen


def timed(device: str, steps: int, channels_last: bool = False, threads: int = 1, mkldnn: bool = True,
          autocast: bool = False, state: dict = {}) -> tuple[float, float]:
    """(images per wall second, images per CPU-second) over `steps` training steps
    (after one warm-up step the first time a variant runs)."""
    key = (channels_last, threads, mkldnn, autocast)
    first = key not in state
    if first:
        state[key] = setup(device, channels_last)
    G, D, opt_g, opt_d, x, gen = state[key]
    torch.set_num_threads(threads)
    amp = torch.autocast(device, dtype=torch.float16) if autocast else contextlib.nullcontext()
    with torch.backends.mkldnn.flags(enabled=mkldnn), amp:
        for i in range(steps + (1 if first else 0)):
            if i == 1 or (not first and i == 0):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0, c0 = time.perf_counter(), time.process_time()
            dcgan_step.gan_step(G, D, opt_g, opt_d, x, torch.randn(BATCH, 64, device=device, generator=gen))
        if device == "cuda":
            torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - t0), steps * BATCH / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="the thread count of the threads=N variant (default 2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6, help="steps per variant per round")
    args = ap.parse_args()
    torch.set_flush_denormal(True)   # as gan_core.train does
    if args.device == "cuda":
        variants = {"default": {}, "channels-last": {"channels_last": True},
                    "float16 autocast": {"autocast": True},
                    "channels-last + float16": {"channels_last": True, "autocast": True}}
        steps = args.steps * 10
    else:
        variants = {"default": {}, "channels-last": {"channels_last": True}, "no-oneDNN": {"mkldnn": False},
                    f"threads={args.threads}": {"threads": args.threads},
                    f"channels-last, threads={args.threads}": {"channels_last": True, "threads": args.threads}}
        steps = args.steps
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, kw in variants.items():
            results[name].append(timed(args.device, steps, **kw))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1][0]:.0f} ({v[-1][1]:.0f}/CPU-s)"
                                                             for k, v in results.items()), flush=True)
    wall0 = statistics.median(w for w, _ in results["default"])
    cpu0 = statistics.median(c for _, c in results["default"])
    print(f"\ntorch {torch.__version__}, device {args.device}, batch {BATCH}, {args.rounds} rounds of {steps} steps")
    print("| variant | images/s (wall, median round) | vs default | images per CPU-second | vs default |")
    print("| --- | --- | --- | --- | --- |")
    for name, v in results.items():
        w, c = statistics.median(x for x, _ in v), statistics.median(y for _, y in v)
        print(f"| {name} | {w:,.0f} | {w / wall0:.2f}x | {c:,.0f} | {c / cpu0:.2f}x |")

if __name__ == "__main__":
    main()
