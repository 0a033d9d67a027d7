"""Segments: a video cut into fixed-length spans of time, each with its frame range."""

from __future__ import annotations

import math
import numbers

import numpy as np

from vlad.errors import ConfigError
from vlad.media.video.records import TIME_EPS, VideoInfo
from vlad.types import Segment

__all__ = ["segments_for"]


def segments_for(
    info: VideoInfo, segment_seconds: float, *, timestamps: np.ndarray | None = None
) -> list[Segment]:
    """Cut a video into fixed-length segments covering ``[0, duration)``.

    Segment ``k`` spans ``[k * segment_seconds, (k + 1) * segment_seconds)`` (the last one
    ends at the duration, so it may be shorter) and holds the frames whose timestamp falls
    inside, as the index range ``[start_frame, end_frame)``. Without ``timestamps``,
    frame ``i`` is taken to be at ``i / fps``.

    Args:
        info: The video's metadata.
        segment_seconds: Length of a segment in seconds.
        timestamps: The frames' times (:meth:`VideoReader.timestamps`), for a variable
            frame rate.

    Returns:
        The segments, in order, with ``score`` None.

    Raises:
        ConfigError: When ``segment_seconds`` is not a positive number.
    """
    if (
        isinstance(segment_seconds, bool)
        or not isinstance(segment_seconds, numbers.Real)
        or not (math.isfinite(float(segment_seconds)) and segment_seconds > 0)
    ):
        raise ConfigError(
            f"segment_seconds must be a positive number of seconds, not {segment_seconds!r}; "
            "pass e.g. 4.",
            param="segment_seconds",
        )
    seconds = float(segment_seconds)
    duration = float(info.duration_s)
    count = max(1, math.ceil(duration / seconds - TIME_EPS))
    if timestamps is None:
        times = np.arange(info.frame_count, dtype=np.float64) / info.fps
    else:
        times = np.asarray(timestamps, dtype=np.float64)
    segments = []
    for k in range(count):
        start = k * seconds
        end = min((k + 1) * seconds, duration) if k < count - 1 else duration
        first = int(np.searchsorted(times, start - TIME_EPS, side="left"))
        last = (
            len(times)
            if k == count - 1
            else int(np.searchsorted(times, end - TIME_EPS, side="left"))
        )
        segments.append(
            Segment(index=k, start_s=start, end_s=end, start_frame=first, end_frame=last)
        )
    return segments
