"""Pictures of results: heat-map overlays of anomaly maps on their images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def heat_map_overlay(
    image: Image.Image,
    anomaly_map: np.ndarray,
    *,
    alpha: float = 0.5,
    value_range: tuple[float, float] = (0.0, 1.0),
    colormap: str = "jet",
) -> Image.Image:
    """Blend a colour-mapped anomaly map over its image.

    The colour scale is fixed (``value_range``), not stretched per image, so that a normal
    image stays cool and two overlays can be compared by eye.

    Args:
        image: The RGB image the map belongs to.
        anomaly_map: (H, W) scores at the image's size; numpy is (H, W), PIL is (W, H).
        alpha: Weight of the heat map in the blend.
        value_range: Scores mapped to the two ends of the colour map.
        colormap: A matplotlib colour map name.

    Returns:
        An RGB image of the image's size.

    Raises:
        ValueError: When the map's shape is not the image's (height, width).
    """
    from matplotlib import colormaps

    width, height = image.size
    if anomaly_map.shape != (height, width):
        raise ValueError(
            f"Map shape {anomaly_map.shape} does not match the image's (height, width) "
            f"({height}, {width})."
        )
    low, high = value_range
    scaled = np.clip((anomaly_map.astype(np.float64) - low) / max(high - low, 1e-12), 0.0, 1.0)
    colours = colormaps[colormap](scaled)[..., :3]
    base = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    blended = (1.0 - alpha) * base + alpha * colours
    return Image.fromarray(np.round(blended * 255.0).astype(np.uint8))


def write_map_files(
    folder: Path, stem: str, image: Image.Image, anomaly_map: np.ndarray
) -> tuple[Path, Path]:
    """Write ``STEM.npy`` (float32 map) and ``STEM_overlay.png`` into a folder.

    Both are written to temporary names first and renamed, so that a stopped run never
    leaves a half-written file under the final name.

    Args:
        folder: Output folder (created if missing).
        stem: File name stem.
        image: The image the map belongs to.
        anomaly_map: (H, W) map.

    Returns:
        The paths of the .npy and the .png files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    npy_path = folder / f"{stem}.npy"
    png_path = folder / f"{stem}_overlay.png"
    tmp_npy = folder / f".{stem}.npy.part"
    tmp_png = folder / f".{stem}_overlay.png.part"
    with tmp_npy.open("wb") as handle:
        np.save(handle, anomaly_map.astype(np.float32))
    heat_map_overlay(image, anomaly_map).save(tmp_png, format="PNG")
    tmp_npy.replace(npy_path)
    tmp_png.replace(png_path)
    return npy_path, png_path
