"""Draw a grid of generated images from a checkpoint.

    python -m gan_core.sample --checkpoint checkpoints/book-g.pt --n 64 --seed 0 --out grid.png
"""
from __future__ import annotations

from ..checkpoints import load_checkpoint
from ..config import ConfigError
from ..device import resolve_device
from ..images import grid, save_png
from ..latent import decode, z_from_seed
from .common import Parser, add_checkpoint_arg


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m gan_core.sample", description=__doc__.splitlines()[0])
    add_checkpoint_arg(p)
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the z batch")
    p.add_argument("--scale", type=int, default=2, help="pixel enlargement (default 2)")
    p.add_argument("--out", required=True, help="PNG file to write")
    args = p.parse_args(argv)
    if not 1 <= args.n <= 1024:
        raise ConfigError(f"--n must be between 1 and 1024, got {args.n}")
    if not 1 <= args.scale <= 16:
        raise ConfigError(f"--scale must be between 1 and 16, got {args.scale}")
    ck = load_checkpoint(args.checkpoint, arch=args.arch)
    G = ck.build_generator(resolve_device(args.device))
    images = decode(G, z_from_seed(args.seed, args.n, ck.config.latent_dim), ck.config.image_size)
    save_png(args.out, grid(images, scale=args.scale))
    print(f"wrote {args.out}: {args.n} images from {args.checkpoint} (epoch {ck.epoch}, seed {args.seed})")
    return 0

