"""What an analysis keeps besides its answer: the cached embeddings for follow-up questions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vlad.answer.explanation import Explanation, KeyFrame
from vlad.types import Interval, ScoreTrack

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from vlad.pipeline.video import EncodedVideo, VideoDetector
    from vlad.scoring.memory import MemoryIndex


@dataclass(frozen=True)
class DefinitionResult:
    """A definition scored on an analysis' cached embeddings (a follow-up question).

    Attributes:
        definition: The definition scored.
        track: Its smoothed score track.
        intervals: Where it reaches the threshold.
        keyframes: The peak frame of each interval with its heat map.
        score: Its highest score.
        threshold: The threshold used.
    """

    definition: str
    track: ScoreTrack
    intervals: tuple[Interval, ...]
    keyframes: tuple[KeyFrame, ...]
    score: float
    threshold: float

    @property
    def found(self) -> bool:
        """Whether the definition reached the threshold anywhere."""
        return bool(self.intervals)


@dataclass
class Analysis:
    """An explanation plus what follow-up questions need: the cached embeddings.

    Attributes:
        explanation: The answer (the same record :meth:`Pipeline.analyze` returns).
        source: The file analysed.
        detector: The configured video scorer (definitions, normal descriptions).
        encoded: The video's frame embeddings (None for an image).
        image: The image (None for a video).
        image_embedding: (1, D) global CLIP embedding of the image (computed when first
            needed).
        rule_refs: Definition text -> (rule id, rule text) for rules applied via CLIP.
        memory: The memory used, if any.
        queries: Definitions scored by follow-up questions, by text.
    """

    explanation: Explanation
    source: Path
    detector: VideoDetector
    encoded: EncodedVideo | None = None
    image: Image.Image | None = None
    image_embedding: torch.Tensor | None = field(default=None, repr=False)
    rule_refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    memory: MemoryIndex | None = None
    queries: dict[str, DefinitionResult] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> Literal["video", "image"]:
        """``video`` or ``image``."""
        return self.explanation.kind
