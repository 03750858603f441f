"""Images/s of the book's training loop against gan_core's Trainer, in one process.

Run:  PYTHONPATH=. python bench/train_speed.py [--steps 600] [--rounds 2] [--precision fp32|bf16] [--device cpu]
      (PYTHONPATH=. so the gan_core beside this script is timed, not an installed one)

Both loops train from the same seed on the real Fashion-MNIST for the same number
of steps. The book's loop is chapter 14's: a DataLoader with ToTensor + Normalize
around gan_core.book_step (G run twice, D three times, BCELoss, default Adam).
The two are timed alternately (book, ours, book, ours) so drift in a shared
machine's speed hits both; the ratio is the figure to quote. The header names the
CPU and its load average, which the figures mean nothing without (on a shared machine,
say so when you quote them). --precision bf16 times gan_core in bf16 (the book's loop
stays fp32), where gan_core.bf16_available allows it.
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import torch
from torchvision import datasets, transforms

from gan_core import GANConfig, StepEvent, Trainer, book_step, build_models, resolve_device
from gan_core.precision import PRECISIONS, check_precision
from gan_core.data import find_dataset_root, load_fashion_mnist


def book_loop(steps: int, root: str, device: torch.device, cfg: GANConfig) -> float:
    """The book's loop for `steps` steps; returns images/s (DataLoader time included, as in the book)."""
    ds = datasets.FashionMNIST(root, train=True, download=False, transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True)
    G, D = build_models(cfg, device)
    d_optimizer = torch.optim.Adam(D.parameters(), lr=cfg.lr_d)
    g_optimizer = torch.optim.Adam(G.parameters(), lr=cfg.lr_g)
    B = cfg.batch_size
    done = 0
    t0 = time.perf_counter()
    while done < steps:
        for images, _ in loader:
            images = images.reshape(B, -1).to(device)
            z = torch.randn(B, cfg.latent_dim).to(device)
            book_step(G, D, g_optimizer, d_optimizer, images, z)
            done += 1
            if done == steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * B / (time.perf_counter() - t0)


def ours(steps: int, images: torch.Tensor, device: torch.device, cfg: GANConfig, precision: str = "fp32") -> float:
    """gan_core's Trainer for `steps` steps, the per-epoch shuffle included; returns images/s."""
    trainer = Trainer(cfg, images, device, precision)
    t0 = time.perf_counter()
    for _ in itertools.islice((e for e in trainer.run() if isinstance(e, StepEvent)), steps):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * cfg.batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="steps per timed run (600 = one epoch)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of book, ours")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32", help="gan_core's precision (default fp32)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads for both loops (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as gan_core.train does; matters only late in training
    device = resolve_device(args.device)
    check_precision(args.precision, device)
    cfg = GANConfig(epochs=10**4)
    root = str(find_dataset_root(args.data_dir))
    images, _ = load_fashion_mnist(True, args.data_dir, device)
    print(f"device={device} ({machine(device)}) torch={torch.__version__} threads={torch.get_num_threads()} "
          f"steps={args.steps} precision={args.precision} {load()}", flush=True)
    # Warm-up both paths once so one-time costs (allocators, kernels) are not timed.
    book_loop(20, root, device, cfg)
    ours(20, images, device, cfg, args.precision)
    book, fast = [], []
    for r in range(args.rounds):
        book.append(book_loop(args.steps, root, device, cfg))
        fast.append(ours(args.steps, images, device, cfg, args.precision))
        print(f"round {r}: book {book[-1]:,.0f} images/s   gan_core {fast[-1]:,.0f} images/s   "
              f"ratio {fast[-1] / book[-1]:.2f}x   {load()}", flush=True)
    b, f = max(book), max(fast)
    print(f"best: book {b:,.0f} images/s ({b / cfg.batch_size:.0f} steps/s)   "
          f"gan_core {f:,.0f} images/s ({f / cfg.batch_size:.0f} steps/s)   ratio {f / b:.2f}x")



def machine(device: torch.device) -> str:
    """The CPU's model name and core count, or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    """The 1-minute load average (how busy the machine was), where the OS tells it."""
    try:
        return f"load={os.getloadavg()[0]:.1f}"
    except OSError:
        return "load=?"


if __name__ == "__main__":
    main()
