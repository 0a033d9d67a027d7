"""Small record types shared by every stage.

They hold results, not behaviour, so that ``metrics``, ``data`` and the surfaces can use
them without importing torch or any model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Label = Literal["normal", "anomalous"]


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
