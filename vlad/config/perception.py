"""Settings of the rule loop on videos: which frames a vision-language model describes.

A plain checked dataclass (no numpy, no model): every field carries its help text in
``metadata["help"]`` and ``__post_init__`` refuses bad values with a sentence that names the
field (``ConfigError.param``), so a surface can say its own flag instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vlad.errors import ConfigError

PERCEPTION_MODES: tuple[str, ...] = ("peak", "every", "budget")
"""``peak``: only the peak frame of each interval is described, as evidence; ``every``:
every frame sampled at ``fps`` is described and judged against the rules; ``budget``: only
the frames where the CLIP and memory tracks change or are near the threshold are."""
DEFAULT_PERCEPTION_FPS = 1.0
DEFAULT_PERCEPTION_BUDGET = 0.1


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class PerceptionConfig:
    """How a vision-language model's frame descriptions join the scores of a video.

    With ``every`` or ``budget``, frames sampled at ``fps`` are described (batched calls,
    captions cached per frame), judged against the rules by the same deduction as
    ``vlad eval captions`` (``vlad.reasoning.deduction.RuleDeducer`` with the
    :class:`~vlad.config.DeductionConfig` defaults), smoothed into a track with the video's
    smoothing, cut into intervals that cite clause and rule, and fused with the CLIP
    tracks by maximum.

    Attributes:
        mode: One of :data:`PERCEPTION_MODES`.
        fps: Frames per second described (``every``) or sampled to choose from (``budget``).
        budget: ``budget`` mode: most VLM calls per sampled frame, in (0, 1]; at least one
            frame is always described.
        embedder: Text embedder spec of the deduction (``minilm``, ``st:PATH`` ...).
    """

    mode: str = _help("peak, every or budget.", "peak")
    fps: float = _help("Frames per second described (or chosen from).", DEFAULT_PERCEPTION_FPS)
    budget: float = _help("Most VLM calls per sampled frame (budget).", DEFAULT_PERCEPTION_BUDGET)
    embedder: str = _help("Text embedder of the deduction.", "minilm")

    def __post_init__(self) -> None:
        if self.mode not in PERCEPTION_MODES:
            raise ConfigError(
                f"Unknown perception mode '{self.mode}'; use one of {', '.join(PERCEPTION_MODES)}.",
                param="perception",
            )
        if isinstance(self.fps, bool) or not (
            isinstance(self.fps, int | float) and math.isfinite(self.fps) and self.fps > 0
        ):
            raise ConfigError(
                f"perception_fps must be a number of frames per second above 0, got {self.fps}.",
                param="perception_fps",
            )
        if isinstance(self.budget, bool) or not (
            isinstance(self.budget, int | float)
            and math.isfinite(self.budget)
            and 0 < self.budget <= 1
        ):
            raise ConfigError(
                f"perception_budget must lie in (0, 1] VLM calls per sampled frame, got "
                f"{self.budget}.",
                param="perception_budget",
            )
        if not str(self.embedder).strip():
            raise ConfigError(
                "The perception embedder is empty; name one, e.g. minilm.", param="embedder"
            )

    @property
    def describes_frames(self) -> bool:
        """Whether sampled frames are described and judged (``every`` or ``budget``)."""
        return self.mode != "peak"

    @classmethod
    def of(cls, value: PerceptionConfig | str | dict[str, Any] | None) -> PerceptionConfig:
        """A config from a config, a mode name, a mapping (from YAML) or None (defaults).

        Raises:
            ConfigError: An unknown mode or key, or a bad value.
        """
        if isinstance(value, PerceptionConfig):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls(mode=value)
        if isinstance(value, dict):
            from vlad.config.files import check_known_keys

            check_known_keys(cls, value, where="the perception settings")
            return cls(**value)
        raise ConfigError(
            f"perception must be a mode name, a mapping or a PerceptionConfig, got "
            f"{type(value).__name__}.",
            param="perception",
        )
