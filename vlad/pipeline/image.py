"""Wiring of the stages: media -> encoder -> scorer -> records.

This is the one place where images are loaded, batched, encoded and scored; the CLI, the
benchmarks and the Python API call it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from PIL import Image

from vlad.config import ClipConfig, WinClipConfig
from vlad.encoders.clip import ClipEncoder, load_clip
from vlad.errors import VladError
from vlad.media.image import DEFAULT_MAX_PIXELS, ImageSource, load_image
from vlad.scoring.winclip.scorer import BatchScores, WinClipScorer
from vlad.types import ImageScore


class ImageScorer(Protocol):
    """What :class:`ImageDetector` needs of a scorer: WinCLIP's or the learned prompts'."""

    @property
    def threshold(self) -> float:
        """Score at or above which an image is called anomalous."""
        ...

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Resize and normalise RGB images to the scorer's input."""
        ...

    def encode(self, pixels: torch.Tensor) -> Any:
        """The CLIP forward pass(es) of a preprocessed batch."""
        ...

    def score_features(self, features: Any) -> BatchScores:
        """Image scores and maps from what :meth:`encode` returned."""
        ...


@dataclass(frozen=True)
class DetectionFailure:
    """An input that could not be scored, with the one-sentence reason."""

    input: str
    error: str

    def to_record(self) -> dict[str, str]:
        """Return the JSON-ready record of the failure."""
        return {"input": self.input, "error": self.error}


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over a run (for benchmarks and progress)."""

    load: float = 0.0
    preprocess: float = 0.0
    encode: float = 0.0
    score: float = 0.0
    images: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of the stage times."""
        return self.load + self.preprocess + self.encode + self.score


class ImageDetector:
    """Scores images with a WinCLIP or learned-prompt scorer, batch by batch, failures apart.

    Args:
        scorer: A built scorer: a :class:`WinClipScorer` (zero-shot, or few-shot after
            ``add_references``) or an
            :class:`~vlad.scoring.learned.scorer.AnomalyClipScorer`.
        batch_size: Images per CLIP forward pass.
        max_pixels: Refuse images with more pixels than this (None: no limit).
    """

    def __init__(
        self,
        scorer: ImageScorer,
        *,
        batch_size: int = 8,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        if batch_size < 1:
            raise VladError(f"batch_size must be at least 1, got {batch_size}.", param="batch_size")
        self.scorer = scorer
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.times = StageTimes()

    @classmethod
    def build(
        cls,
        clip: ClipConfig,
        winclip: WinClipConfig,
        *,
        references: Sequence[ImageSource] = (),
        batch_size: int = 8,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> ImageDetector:
        """Load the CLIP, build the scorer, embed the prompts and add any references.

        Args:
            clip: Which CLIP to load.
            winclip: Scorer settings.
            references: Normal reference images for few-shot mode (WinCLIP+).
            batch_size: Images per forward pass.
            max_pixels: Decompression-bomb limit for every image read.

        Returns:
            A ready detector.

        Raises:
            VladError: A model, setting or reference image that cannot be used.
        """
        return cls.from_encoder(
            load_clip(clip),
            winclip,
            references=references,
            batch_size=batch_size,
            max_pixels=max_pixels,
        )

    @classmethod
    def from_encoder(
        cls,
        encoder: ClipEncoder,
        winclip: WinClipConfig,
        *,
        references: Sequence[ImageSource] = (),
        batch_size: int = 8,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> ImageDetector:
        """Like :meth:`build`, with an already loaded CLIP (shared with other detectors)."""
        scorer = WinClipScorer(encoder, winclip)
        _ = scorer.text_embeddings  # once per class, never per image
        if references:
            images = [load_image(r, max_pixels=max_pixels) for r in references]
            for start in range(0, len(images), batch_size):
                scorer.add_references(images[start : start + batch_size])
        return cls(scorer, batch_size=batch_size, max_pixels=max_pixels)

    @property
    def threshold(self) -> float:
        """Score at or above which an image is called anomalous."""
        return self.scorer.threshold

    def detect(
        self, sources: Iterable[ImageSource], *, names: Sequence[str] | None = None
    ) -> Iterator[ImageScore | DetectionFailure]:
        """Score images lazily, in input order, one result per input.

        Args:
            sources: Paths, bytes, PIL images or arrays.
            names: Names for the inputs in results (default: the path, or ``<image N>``).

        Yields:
            An :class:`~vlad.types.ImageScore` per readable image and a
            :class:`DetectionFailure` per input that could not be read.
        """
        for result in self.detect_with_images(sources, names=names):
            yield result if isinstance(result, DetectionFailure) else result[0]

    def detect_with_images(
        self, sources: Iterable[ImageSource], *, names: Sequence[str] | None = None
    ) -> Iterator[tuple[ImageScore, Image.Image] | DetectionFailure]:
        """Like :meth:`detect`, with each score paired with its loaded RGB image."""
        pending: list[tuple[str, Image.Image]] = []
        for index, source in enumerate(sources):
            name = names[index] if names is not None else _default_name(source, index)
            start = time.perf_counter()
            try:
                image = load_image(source, max_pixels=self.max_pixels, name=name)
            except VladError as exc:
                self.times.load += time.perf_counter() - start
                yield from self._flush(pending)
                pending = []
                yield DetectionFailure(name, str(exc))
                continue
            self.times.load += time.perf_counter() - start
            pending.append((name, image))
            if len(pending) == self.batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _flush(
        self, pending: list[tuple[str, Image.Image]]
    ) -> Iterator[tuple[ImageScore, Image.Image]]:
        if not pending:
            return
        images = [image for _, image in pending]
        start = time.perf_counter()
        pixels = self.scorer.preprocess(images)
        after_preprocess = time.perf_counter()
        features = self.scorer.encode(pixels)
        after_encode = time.perf_counter()
        scores = self.scorer.score_features(features)
        results = []
        for index, (name, image) in enumerate(pending):
            width, height = image.size  # PIL is (W, H)
            pixel_map = scores.pixel_map_of(index, (height, width))
            score = ImageScore(
                input=name,
                score=float(scores.image[index]),
                threshold=self.threshold,
                anomaly_map=pixel_map,
                size=(height, width),
            )
            results.append((score, image))
        end = time.perf_counter()
        self.times.preprocess += after_preprocess - start
        self.times.encode += after_encode - after_preprocess
        self.times.score += end - after_encode
        self.times.images += len(pending)
        yield from results


def _default_name(source: object, index: int) -> str:
    if isinstance(source, str):
        return source
    if hasattr(source, "__fspath__"):
        return str(source)
    return f"<image {index}>"
