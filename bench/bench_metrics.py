"""Time vlad.metrics.aupro and pixel_auroc on stacks of 256x256 maps with blob masks.

Run as ``python bench/bench_metrics.py [--maps 100] [--size 256] [--repeat 3]``. It prints
the best-of-``repeat`` time for a quarter of the maps and for all of them, and the ratio,
which is about 4 when the cost grows as n log n in the number of pixels.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from vlad.metrics import aupro, pixel_auroc


def make_data(n_maps: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Masks of 0-4 smooth blobs per image and float32 maps correlated with them."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_maps, size, size), dtype=bool)
    yy, xx = np.ogrid[:size, :size]
    for i in range(n_maps):
        for _ in range(rng.integers(0, 5)):
            cy, cx = rng.integers(0, size, 2)
            ry, rx = rng.integers(3, size // 8, 2)
            masks[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    masks[0, 10:20, 10:20] = True  # at least one region
    noise = rng.standard_normal((n_maps, size, size)).astype(np.float32)
    maps = ndimage.gaussian_filter(noise + 0.5 * masks, (0, 3, 3))
    return masks, maps


def best_time(fn: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Best wall time over ``repeat`` calls, and the value returned."""
    times = []
    value = float("nan")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    masks, maps = make_data(args.maps, args.size)
    quarter = max(1, args.maps // 4)
    n_regions = sum(ndimage.label(m, structure=np.ones((3, 3)))[1] for m in masks)
    print(
        f"{args.maps} maps of {args.size}x{args.size} ({masks.size / 1e6:.1f} M pixels), "
        f"{n_regions} regions, {masks.mean():.1%} anomalous pixels, best of {args.repeat}"
    )
    n_small, n_full = masks[:quarter].size, masks.size
    nlogn = n_full * np.log(n_full) / (n_small * np.log(n_small))
    print(f"ratio expected from n log n alone: {nlogn:.2f} (memory effects add to it)")
    for name, fn in [("aupro", aupro), ("pixel_auroc", pixel_auroc)]:
        t_small, _ = best_time(lambda fn=fn: fn(masks[:quarter], maps[:quarter]), args.repeat)
        t_full, value = best_time(lambda fn=fn: fn(masks, maps), args.repeat)
        print(
            f"{name:12s} {quarter:4d} maps {t_small:7.3f} s   {args.maps:4d} maps {t_full:7.3f} s"
            f"   ratio {t_full / t_small:5.2f}   value {value:.6f}"
        )


if __name__ == "__main__":
    main()
