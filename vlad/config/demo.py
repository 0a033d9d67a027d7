"""Settings of the chat demo: what it accepts and how much work it takes on at once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vlad.errors import ConfigError

DEFAULT_MAX_UPLOAD_MB = 200.0
DEFAULT_MAX_VIDEO_SECONDS = 600.0
DEFAULT_CONCURRENCY = 1
DEFAULT_QUEUE_SIZE = 32
DEFAULT_MAX_SESSIONS = 64


@dataclass(frozen=True)
class DemoLimits:
    """What the demo accepts and how much it runs at once.

    Attributes:
        max_upload_mb: Largest upload, in megabytes.
        max_video_seconds: Longest video, in seconds.
        concurrency: Model events (analyses and answers) running at once.
        queue_size: Most events waiting in the queue; more are refused.
        max_sessions: Most sessions kept in memory (least recently used dropped).
    """

    max_upload_mb: float = field(
        default=DEFAULT_MAX_UPLOAD_MB, metadata={"help": "largest upload in MB"}
    )
    max_video_seconds: float = field(
        default=DEFAULT_MAX_VIDEO_SECONDS, metadata={"help": "longest video in seconds"}
    )
    concurrency: int = field(
        default=DEFAULT_CONCURRENCY, metadata={"help": "analyses and answers running at once"}
    )
    queue_size: int = field(default=DEFAULT_QUEUE_SIZE, metadata={"help": "requests waiting"})
    max_sessions: int = field(
        default=DEFAULT_MAX_SESSIONS, metadata={"help": "sessions kept in memory"}
    )

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_video_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value}.", param=name)
        for name in ("concurrency", "queue_size", "max_sessions"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}.", param=name)
