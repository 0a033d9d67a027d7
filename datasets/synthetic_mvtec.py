"""A synthetic dataset in MVTec AD's layout: textures and flat products with pasted defects.

``make_synthetic_mvtec(root)`` writes, per category, with MVTec AD's real file names::

    CATEGORY/train/good/000.png
    CATEGORY/test/good/000.png
    CATEGORY/test/scratch/000.png      CATEGORY/ground_truth/scratch/000_mask.png
    CATEGORY/test/blob/000.png         CATEGORY/ground_truth/blob/000_mask.png

``carpet`` and ``wood`` are textures (noisy stripes), ``bottle`` and ``pill`` flat products
(a disc on a plain background). Scratches are thick lines and blobs are ellipses, in a
colour far from the background, with their exact masks. Deterministic for a seed.

Run it to try ``vlad train prompts`` without downloading a benchmark (the tests use the same
code)::

    python datasets/synthetic_mvtec.py data/synthetic-mvtec --size 64
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TEXTURES = ("carpet", "wood")
PRODUCTS = ("bottle", "pill")
DEFECTS = ("scratch", "blob")


def _texture(rng: np.random.Generator, size: int, category: str) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(5.0, 9.0)
    angle = rng.uniform(0, np.pi) if category == "carpet" else rng.uniform(-0.2, 0.2)
    wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    base = np.array([150, 120, 90] if category == "wood" else [110, 130, 150], np.float32)
    noise = rng.normal(0, 8, (size, size, 1))
    image = base + 25 * wave[..., None] + noise
    return np.clip(image, 0, 255).astype(np.uint8)


def _product(rng: np.random.Generator, size: int, category: str) -> np.ndarray:
    background = np.full((size, size, 3), 40 if category == "bottle" else 200, np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    radius = size * rng.uniform(0.3, 0.38)
    cx, cy = size / 2 + rng.uniform(-2, 2), size / 2 + rng.uniform(-2, 2)
    fill = (90, 140, 90) if category == "bottle" else (230, 180, 60)
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    noisy = np.asarray(image).astype(np.float32) + rng.normal(0, 5, (size, size, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _defect(
    rng: np.random.Generator, image: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[0]
    picture = Image.fromarray(image)
    mask = Image.new("L", (size, size), 0)
    colour = (255, 20, 147) if image.mean() < 128 else (20, 20, 200)
    low, high = int(size * 0.25), int(size * 0.75)
    if kind == "scratch":
        x0, y0 = rng.integers(low, high, 2)
        angle = rng.uniform(0, np.pi)
        length = size * rng.uniform(0.25, 0.4)
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        width = max(2, size // 16)
        for canvas, value in ((ImageDraw.Draw(picture), colour), (ImageDraw.Draw(mask), 255)):
            canvas.line((int(x0), int(y0), int(x1), int(y1)), fill=value, width=width)
    else:
        cx, cy = rng.integers(low, high, 2)
        rx, ry = size * rng.uniform(0.08, 0.15), size * rng.uniform(0.08, 0.15)
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        ImageDraw.Draw(picture).ellipse(box, fill=colour)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
    return np.asarray(picture), np.asarray(mask)


def make_synthetic_mvtec(
    root: str | Path,
    *,
    categories: tuple[str, ...] = ("carpet", "bottle"),
    size: int = 64,
    train_good: int = 4,
    test_good: int = 4,
    per_defect: int = 4,
    seed: int = 0,
) -> Path:
    """Write the dataset under ``root`` and return ``root``.

    Args:
        root: Folder to write (created).
        categories: MVTec AD category names, from ``carpet``, ``wood``, ``bottle``, ``pill``.
        size: Image side in pixels.
        train_good: Normal training images per category.
        test_good: Normal test images per category.
        per_defect: Anomalous test images per defect type and category.
        seed: Seed of every random choice.
    """
    folder = Path(root)
    rng = np.random.default_rng(seed)
    for category in categories:
        make = _texture if category in TEXTURES else _product
        for split, count in (("train", train_good), ("test", test_good)):
            target = folder / category / split / "good"
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.fromarray(make(rng, size, category)).save(target / f"{index:03d}.png")
        for kind in DEFECTS:
            images = folder / category / "test" / kind
            masks = folder / category / "ground_truth" / kind
            images.mkdir(parents=True, exist_ok=True)
            masks.mkdir(parents=True, exist_ok=True)
            for index in range(per_defect):
                picture, mask = _defect(rng, make(rng, size, category), kind)
                Image.fromarray(picture).save(images / f"{index:03d}.png")
                Image.fromarray(mask).save(masks / f"{index:03d}_mask.png")
    return folder


def main() -> None:
    """Write a synthetic MVTec-layout dataset from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-defect", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--categories", nargs="+", default=["carpet", "bottle"], choices=[*TEXTURES, *PRODUCTS]
    )
    args = parser.parse_args()
    make_synthetic_mvtec(
        args.root,
        categories=tuple(args.categories),
        size=args.size,
        per_defect=args.per_defect,
        seed=args.seed,
    )
    print(args.root)


if __name__ == "__main__":
    main()
