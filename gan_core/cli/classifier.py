"""Train the Fashion-MNIST classifier that judges samples, and print its test accuracy.

    python -m gan_core.classifier --out checkpoints/classifier.pt
    python -m gan_core.classifier --out /tmp/c.pt --epochs 1 --seed 1 --data-dir DIR
"""
from __future__ import annotations

import time

import torch

from ..fashion_classifier import ClassifierConfig, classifier_accuracy, save_classifier, train_classifier
from ..data import load_fashion_mnist
from ..device import resolve_device
from .common import Parser


def main(argv: list[str] | None = None) -> int:
    d = ClassifierConfig()
    p = Parser(prog="python -m gan_core.classifier", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. checkpoints/classifier.pt)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for weights, data order and dropout")
    p.add_argument("--data-dir", default=None, help="folder holding Fashion-MNIST's idx files")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    args = p.parse_args(argv)
    cfg = ClassifierConfig(epochs=args.epochs, seed=args.seed).validate()
    device = resolve_device(args.device)
    x, y = load_fashion_mnist(train=True, data_dir=args.data_dir)
    xt, yt = load_fashion_mnist(train=False, data_dir=args.data_dir)
    t0 = time.perf_counter()

    def report(epoch: int, loss: float) -> None:
        print(f"epoch [{epoch}/{cfg.epochs}] loss:{loss:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    model = train_classifier(cfg, x, y, device=device, progress=report)
    seconds = time.perf_counter() - t0
    acc = classifier_accuracy(model, xt, yt)
    meta = {"seconds": round(seconds, 1), "device": str(device), "threads": torch.get_num_threads(),
            "torch": str(torch.__version__), "train_size": len(x), "test_size": len(xt)}
    save_classifier(args.out, model, acc, meta)
    print(f"test accuracy: {acc:.4f} on {len(xt)} test images; trained in {seconds:.0f} s; wrote {args.out}")
    return 0
