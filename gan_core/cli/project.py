"""Find the z whose generated picture looks most like a given picture (GAN inversion), and save it.

    python -m gan_core.project --checkpoint checkpoints/book.pt --image shirt.png --out z.json \
        [--restarts 16] [--steps 200] [--seed 0]

Any PNG or JPEG works: it is turned into a 28 x 28 light-on-black picture like
Fashion-MNIST's first. z.json holds one number per latent dimension. Prints the pixel
MSE (in G's [-1, 1] units) and, for comparison, that of the best of 10,000 random z.
"""
from __future__ import annotations

import json

import torch

from ..checkpoints import load_checkpoint
from .common import Parser, add_checkpoint_arg
from ..config import ConfigError
from ..files import atomic_write_text
from ..projection import best_of_random, load_image, prepare_image, project_image

BASELINE_SAMPLES = 10_000


def _device(name: str) -> torch.device:
    """cpu, cuda or auto, as a torch.device; ConfigError if cuda is asked for and absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device must be cpu, cuda or auto, got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m gan_core.project", description=__doc__.splitlines()[0])
    add_checkpoint_arg(p)
    p.add_argument("--image", required=True, help="the picture to match (PNG, JPEG, ...)")
    p.add_argument("--out", required=True, help="JSON file to write the z to")
    p.add_argument("--restarts", type=int, default=16, help="z optimised at once (default 16)")
    p.add_argument("--steps", type=int, default=200, help="Adam steps (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the starting z and the baseline")
    args = p.parse_args(argv)
    if not 1 <= args.restarts <= 256:
        raise ConfigError(f"--restarts must be between 1 and 256, got {args.restarts}")
    if not 0 <= args.steps <= 10_000:
        raise ConfigError(f"--steps must be between 0 and 10000, got {args.steps}")
    target = prepare_image(load_image(args.image))                      # uint8 (28, 28); ValueError if unusable
    ck = load_checkpoint(args.checkpoint, arch=args.arch)
    if ck.config.image_size != target.shape[0]:
        raise ConfigError(f"the checkpoint makes {ck.config.image_size} x {ck.config.image_size} pictures; "
                          f"pictures are prepared at {target.shape[0]} x {target.shape[0]}")
    G = ck.build_generator(_device(args.device))
    found = project_image(G, target, restarts=args.restarts, steps=args.steps, seed=args.seed)
    baseline = best_of_random(G, target, n=BASELINE_SAMPLES, seed=args.seed + 1)
    atomic_write_text(args.out, json.dumps([round(float(v), 6) for v in found.z]) + "\n")
    print(f"pixel MSE {found.mse:.4f} (in [-1, 1] units); best of {BASELINE_SAMPLES:,} random z: "
          f"{baseline.mse:.4f}; wrote {args.out}")
    return 0

