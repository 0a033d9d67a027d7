"""Write the small synthetic sample images in ``datasets/samples`` (run once; committed).

Brushed-metal plates, 256x256: two without defects and two with one (a scratch, a dent),
so that ``vlad detect datasets/samples --class-name "metal plate"`` has something to show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256


def plate(seed: int) -> Image.Image:
    """A grey brushed-metal texture with soft lighting."""
    rng = np.random.default_rng(seed)
    streaks = rng.normal(0, 1, size=(SIZE, 1)) * 10 + rng.normal(0, 3, size=(SIZE, SIZE))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    light = 150 + 35 * np.cos((xx - SIZE * 0.3) / SIZE * 2.2) * np.cos((yy - SIZE * 0.6) / SIZE)
    gray = np.clip(light + streaks, 0, 255)
    rgb = np.stack([gray, gray * 0.98, gray * 0.95], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(0.6))


def main() -> None:
    """Write the four sample images next to this script."""
    out = Path(__file__).parent / "samples"
    out.mkdir(exist_ok=True)
    plate(1).save(out / "good_1.png")
    plate(2).save(out / "good_2.png")
    scratch = plate(3)
    ImageDraw.Draw(scratch).line([(60, 70), (190, 150)], fill=(40, 38, 36), width=4)
    scratch.save(out / "scratch.png")
    dent = plate(4)
    draw = ImageDraw.Draw(dent)
    draw.ellipse([150, 40, 200, 90], fill=(70, 66, 62))
    draw.ellipse([160, 50, 190, 80], fill=(205, 200, 195))
    dent.filter(ImageFilter.GaussianBlur(1.0)).save(out / "dent.png")


if __name__ == "__main__":
    main()
