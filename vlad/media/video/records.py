"""What a video is to vlad: its metadata, its decoded frames, the suffixes taken as videos."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np

__all__ = ["TIME_EPS", "VIDEO_EXTENSIONS", "Backend", "Frame", "VideoInfo", "is_video_path"]

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv",
        ".ts", ".3gp", ".ogv",
    }
)  # fmt: skip
"""Lower-case file suffixes taken as videos by :func:`is_video_path`."""

Backend: TypeAlias = Literal["auto", "decord", "pyav"]
"""Decoder choice for :func:`open_video`: ``"auto"`` is PyAV; ``"decord"`` on request."""

# Times closer than this (seconds) are equal: keeps float rounding of k / fps or of a
# timestamp from picking the previous frame.
TIME_EPS = 1e-6


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video once it is opened.

    Attributes:
        source: The path as given.
        fps: Native frames per second; for a variable frame rate, the average
            ``(frame_count - 1) / (last time - first time)``.
        frame_count: Frames that can be decoded, as far as is known at open time (a file
            cut short counts only the frames present).
        duration_s: Seconds from the first frame to the end of the last one
            (``1 / fps`` for a single frame).
        width: Frame width in pixels (after any rotation).
        height: Frame height in pixels (after any rotation).
        backend: The decoder: ``"decord"``, ``"pyav"`` or ``"frames"`` (a frame folder).
    """

    source: str
    fps: float
    frame_count: int
    duration_s: float
    width: int
    height: int
    backend: str

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the video."""
        return {
            "source": self.source,
            "fps": round(self.fps, 6),
            "frame_count": self.frame_count,
            "duration_s": round(self.duration_s, 6),
            "width": self.width,
            "height": self.height,
            "backend": self.backend,
        }


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: The frame's index in the video (0 for the first frame).
        time_s: Its presentation time in seconds from the first frame.
        image: uint8 RGB pixels of shape (H, W, 3); numpy is (H, W), PIL is (W, H).
    """

    index: int
    time_s: float
    image: np.ndarray = field(repr=False, compare=False)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video suffix (:data:`VIDEO_EXTENSIONS`, any case).

    Only the name is looked at; the file need not exist.
    """
    return os.path.splitext(os.fsdecode(os.fspath(path)))[1].lower() in VIDEO_EXTENSIONS
