"""What every decoder gives the reader, and what they share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

__all__ = ["Source", "Stopped", "rotate"]


class Stopped(Exception):
    """Decoding cannot go past frame ``index`` (raised by a source, never to a user)."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


class Source(Protocol):
    """What a decoder gives the reader."""

    name: str

    def frames(self, indices: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, image)`` for the sorted ``indices``, skipping undecodable ones."""
        ...

    def read(self, index: int) -> np.ndarray | None:
        """Decode one frame, or return None when it cannot be decoded."""
        ...

    def close(self) -> None:
        """Release the decoder."""
        ...


def rotate(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Turn ``image`` upright (counter-clockwise quarter turns, as ffmpeg's autorotate)."""
    if quarter_turns % 4 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns))
