"""Walk the latent space between two seeds: a PNG strip, or an animated GIF.

    python -m gan_core.interpolate --checkpoint checkpoints/book-g.pt --seed-a 1 --seed-b 2 \
        --steps 10 --mode slerp --out walk.gif
"""
from __future__ import annotations

from ..checkpoints import load_checkpoint
from ..config import ConfigError
from ..device import resolve_device
from ..images import grid, save_gif, save_png, upscale
from ..latent import decode, interpolate, z_from_seed
from .common import Parser, add_checkpoint_arg


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="python -m gan_core.interpolate", description=__doc__.splitlines()[0])
    add_checkpoint_arg(p)
    p.add_argument("--seed-a", type=int, required=True, help="seed of the first z")
    p.add_argument("--seed-b", type=int, required=True, help="seed of the last z")
    p.add_argument("--steps", type=int, default=10, help="frames, endpoints included (default 10)")
    p.add_argument("--mode", choices=["lerp", "slerp"], default="slerp")
    p.add_argument("--scale", type=int, default=4, help="pixel enlargement (default 4)")
    p.add_argument("--out", required=True, help="FILE.png for a strip, FILE.gif for an animation")
    args = p.parse_args(argv)
    if not 2 <= args.steps <= 512:
        raise ConfigError(f"--steps must be between 2 and 512, got {args.steps}")
    if not 1 <= args.scale <= 16:
        raise ConfigError(f"--scale must be between 1 and 16, got {args.scale}")
    ck = load_checkpoint(args.checkpoint, arch=args.arch)
    G = ck.build_generator(resolve_device(args.device))
    n = ck.config.latent_dim
    zs = interpolate(z_from_seed(args.seed_a, 1, n)[0], z_from_seed(args.seed_b, 1, n)[0], args.steps, args.mode)
    frames = decode(G, zs, ck.config.image_size)
    if args.out.lower().endswith(".gif"):
        save_gif(args.out, upscale(frames.reshape(-1, frames.shape[-1]), args.scale).reshape(
            len(frames), frames.shape[1] * args.scale, -1))
    else:
        save_png(args.out, grid(frames, ncols=len(frames), scale=args.scale))
    print(f"wrote {args.out}: {args.steps} {args.mode} frames from seed {args.seed_a} to {args.seed_b}")
    return 0

