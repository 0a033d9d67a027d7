"""Frame folders: one image file per frame, read in natural order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vlad.errors import InputError
from vlad.media.image import image_to_array, load_image
from vlad.media.video.errors import printable

__all__ = ["FolderSource"]

log = logging.getLogger(__name__)


class FolderSource:
    """Reads a folder of frame images."""

    name = "frames"

    def __init__(self, paths: list[Path], name: str, height: int, width: int) -> None:
        self._paths = paths
        self._name = name
        self._size = (height, width)

    def close(self) -> None:
        """Nothing is held between calls."""

    def read(self, index: int) -> np.ndarray | None:
        """Load one frame (an unreadable image raises its own InputError)."""
        return self._load(index)

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the wanted frames; an unreadable image is skipped with a warning."""
        for index in indices:
            try:
                image = self._load(int(index))
            except InputError as exc:
                log.warning("Skipping frame %d of '%s': %s", int(index), self._name, exc)
                continue
            yield int(index), image

    def _load(self, index: int) -> np.ndarray:
        """Load frame ``index`` as (H, W, 3), resized to the first frame's size."""
        from PIL import Image

        path = self._paths[index]
        image = load_image(path)
        height, width = self._size
        if image.size != (width, height):  # PIL is (W, H)
            log.warning(
                "Frame '%s' is %dx%d, not %dx%d like the first frame; resizing it.",
                printable(str(path)),
                image.size[0],
                image.size[1],
                width,
                height,
            )
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return image_to_array(image)
