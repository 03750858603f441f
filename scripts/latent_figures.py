"""The README's pictures of the latent tools, made from the shipped book model.

    .venv/bin/python scripts/latent_figures.py            # writes docs/latent-*.png (about 30 s)
    .venv/bin/python scripts/latent_figures.py --out /tmp/figures

Writes four PNGs:
    latent-directions.png   SeFa's 8 directions from one z, -3 to +3, each with its label
    latent-steering.png     three z steered to three classes, step by step
    latent-map.png          the 9 x 9 plane through seeds 1, 2, 3 (A top left, B top right, C bottom left)
    latent-projection.png   real test images: target, our projection, best of 10,000 random z, nearest training image
The projection figure needs Fashion-MNIST (scripts/setup.sh installs it); without it, it is skipped.
Run from the repository root with the project's Python.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gan_core import (CLASS_NAMES, DEFAULT_CLASSIFIER_PATH, DataNotFoundError, best_of_random, decode,  # noqa: E402
                      direction_strip, grid, interpolate, label_direction, latent_plane, load_checkpoint,
                      load_classifier, load_fashion_mnist, project_image, sefa_directions, steer, to_uint8,
                      z_from_seed)
from gan_core.quality import nearest_train  # noqa: E402

SCALE = 3        # 28 px cells at 84 px
FONT_PATHS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"]


def font(size: int = 15):
    for p in FONT_PATHS:
        if Path(p).is_file():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default()


def labelled_rows(rows: list[np.ndarray], labels: list[str], columns: list[str] | None = None,
                  cell: int = (28 + 2) * SCALE) -> Image.Image:
    """Grey rows (each (h, w) uint8) stacked, each with words at its left, titles over columns `cell` px apart."""
    h = rows[0].shape[0]
    w = max(r.shape[1] for r in rows)
    left = 16 + max(int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(t, font=font())) for t in labels)
    top = 30 if columns else 0
    out = Image.new("L", (left + w, top + h * len(rows)), 255)
    draw = ImageDraw.Draw(out)
    for j, title in enumerate(columns or []):
        draw.text((left + j * cell + cell // 2, 16), title, fill=0, font=font(14), anchor="mm")
    for i, (row, text) in enumerate(zip(rows, labels)):
        out.paste(Image.fromarray(row), (left, top + i * h))
        draw.text((8, top + i * h + h // 2), text, fill=0, font=font(), anchor="lm")
    return out


def label_words(lb) -> str:
    if lb.kind == "class":
        return f"{lb.minus_class} → {lb.plus_class}"
    low, high = {"brightness": ("darker", "brighter"), "width": ("narrower", "wider"),
                 "height": ("shorter", "taller")}[lb.kind]
    return f"{low} → {high}" if lb.change >= 0 else f"{high} → {low}"


def directions_figure(G, C) -> Image.Image:
    dirs = sefa_directions(G, 8)
    z = z_from_seed(0, 1, 64)[0]
    rows, labels = [], []
    for i, v in enumerate(dirs.vectors):
        rows.append(grid(direction_strip(G, z, v, 7, 3.0)[1], ncols=7, scale=SCALE))
        labels.append(f"{i + 1}  {label_words(label_direction(G, C, v))}")
    return labelled_rows(rows, labels, ["−3 σ", "−2 σ", "−1 σ", "0", "+1 σ", "+2 σ", "+3 σ"])


def steering_figure(G, C, frames: int = 9) -> Image.Image:
    """Each walk slerped finely between its steps, then `frames` pictures evenly along it, start to end."""
    rows, labels = [], []
    for seed, target in ((0, 1), (3, 8), (5, 9)):
        path = steer(G, C, z_from_seed(seed, 1, 64)[0], target)
        fine = torch.cat([interpolate(a, b, 9)[:-1] for a, b in zip(path.z[:-1], path.z[1:])] + [path.z[-1:]])
        z = fine[np.linspace(0, len(fine) - 1, frames).round().astype(int)]
        rows.append(grid(decode(G, z), ncols=frames, scale=SCALE))
        labels.append(f"seed {seed} → {CLASS_NAMES[target]}: {len(path.z) - 1} steps, "
                      f"p {path.target_prob[0]:.2f} → {path.target_prob[-1]:.2f}")
    return labelled_rows(rows, labels)


def map_figure(G) -> Image.Image:
    plane = latent_plane(G, *(z_from_seed(s, 1, 64)[0] for s in (1, 2, 3)), rows=9, cols=9, mode="slerp")
    return Image.fromarray(grid(plane.images.reshape(81, 28, 28), ncols=9, scale=SCALE))


def projection_figure(G) -> Image.Image | None:
    try:
        x_test, y_test = load_fashion_mnist(train=False)
        x_train, _ = load_fashion_mnist(train=True)
    except DataNotFoundError as e:
        print(f"skipping the projection figure: {e}")
        return None
    rows, labels = [], []
    for cls in (0, 1, 3, 7, 9):
        i = int(torch.nonzero(y_test == cls)[0, 0])
        target = to_uint8(x_test[i:i + 1])[0]
        ours, rnd = project_image(G, target), best_of_random(G, target, n=10_000)
        dist, j = nearest_train(x_test[i:i + 1], x_train)
        near = to_uint8(x_train[int(j[0]):int(j[0]) + 1])[0]
        rows.append(grid(np.stack([target, ours.image, rnd.image, near]), ncols=4, scale=SCALE))
        labels.append(f"{CLASS_NAMES[cls]}: pixel MSE {ours.mse:.3f} | {rnd.mse:.3f} | {float(dist[0]) ** 2 / 784:.3f}")
    return labelled_rows(rows, labels, ["target", "our z", "best of 10k", "nearest train"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args()
    torch.set_num_threads(1)
    G = load_checkpoint(ROOT / "checkpoints" / "book.pt").build_generator()
    C = load_classifier(DEFAULT_CLASSIFIER_PATH).build()
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {"latent-directions.png": directions_figure(G, C), "latent-steering.png": steering_figure(G, C),
               "latent-map.png": map_figure(G), "latent-projection.png": projection_figure(G)}
    for name, image in figures.items():
        if image is not None:
            image.save(args.out / name)
            print(args.out / name, image.size)


if __name__ == "__main__":
    main()
