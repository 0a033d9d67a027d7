"""Small record types shared by every stage.

They hold results, not behaviour, so that ``metrics``, ``data`` and the surfaces can use
them without importing torch or any model code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Label = Literal["normal", "anomalous"]

ProgressFn = Callable[[float, str], None]
"""The one progress callback of vlad: called with the fraction done (0 to 1) and what is
being done (``"Encoding"``, ``"walkway.mp4: Scoring"`` ...)."""


@dataclass(frozen=True)
class ImageScore:
    """The anomaly verdict for one image.

    Attributes:
        input: Where the image came from (a path, or a name given by the caller).
        score: Image-level anomaly score in [0, 1]; higher is more anomalous.
        threshold: Score at or above which the image is called anomalous.
        anomaly_map: Pixel anomaly map of shape (H, W) at the image's own size, or None
            when it was not computed.
        size: (height, width) of the image as loaded (after EXIF orientation).
    """

    input: str
    score: float
    threshold: float
    anomaly_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    size: tuple[int, int] | None = None

    @property
    def label(self) -> Label:
        """``"anomalous"`` when the score reaches the threshold, else ``"normal"``."""
        return "anomalous" if self.score >= self.threshold else "normal"

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record printed by ``vlad detect --json``."""
        record: dict[str, Any] = {
            "input": self.input,
            "score": round(float(self.score), 6),
            "label": self.label,
            "threshold": float(self.threshold),
        }
        if self.size is not None:
            record["height"], record["width"] = self.size
        if self.anomaly_map is not None:
            record["map_max"] = round(float(self.anomaly_map.max()), 6)
        return record


@dataclass(frozen=True)
class Interval:
    """A stretch of time judged anomalous.

    Attributes:
        start_s: Start time in seconds.
        end_s: End time in seconds (exclusive).
        peak_score: Highest score inside the interval.
        definition: The text definition that fired, or None for a generic score.
    """

    start_s: float
    end_s: float
    peak_score: float
    definition: str | None = None

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValueError(f"Interval ends ({self.end_s}) before it starts ({self.start_s}).")

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the interval."""
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "peak_score": round(float(self.peak_score), 6),
            "definition": self.definition,
        }


@dataclass(frozen=True)
class Segment:
    """A fixed-length stretch of a video.

    Attributes:
        index: Position of the segment in the video (0-based).
        start_s: Start time in seconds.
        end_s: End time in seconds (exclusive; the video's duration for the last one).
        start_frame: First original frame index inside the segment.
        end_frame: One past the last original frame index inside the segment.
        score: Aggregated anomaly score, or None before scoring.
    """

    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    score: float | None = None

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the segment."""
        return {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "score": None if self.score is None else round(float(self.score), 6),
        }


@dataclass(frozen=True)
class ScoreTrack:
    """Scores over time for one definition (or the fused score when ``definition`` is None).

    Attributes:
        times_s: (N,) sample times in seconds, increasing.
        frame_indices: (N,) original frame index of each sample.
        values: (N,) scores in [0, 1].
        definition: The text definition scored, or None for a fused track.
    """

    times_s: np.ndarray = field(repr=False)
    frame_indices: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    definition: str | None = None

    def __post_init__(self) -> None:
        if not (len(self.times_s) == len(self.frame_indices) == len(self.values)):
            raise ValueError("A score track needs as many times and frame indices as values.")
