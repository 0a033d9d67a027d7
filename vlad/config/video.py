"""Settings of text-defined zero-shot video scoring."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlad.config.winclip import check_phrases
from vlad.errors import ConfigError


@dataclass(frozen=True)
class VideoConfig:
    """Settings of text-defined zero-shot video scoring.

    Attributes:
        definitions: What counts as anomalous, in words; empty uses the scene prompts'
            default definitions.
        normal: What is normal, in words; empty uses the scene prompts' default set.
        scene_prompts: Packaged scene prompt set name or a YAML path.
        sample_fps: Frames per second to score (None scores every frame).
        segment_seconds: Length of the fixed segments reported.
        smoothing_sigma_s: Gaussian smoothing width in seconds (0: none).
        threshold: Score that opens an anomalous interval.
        low_threshold: Score that keeps an interval open (default: threshold - 0.1).
        merge_gap_s: Intervals closer than this merge into one.
        min_interval_s: Shorter intervals are dropped.
        temperature: Softmax temperature of the frame/definition comparison.
        batch_size: Frames per CLIP forward pass.
        frames_fps: Frame rate of a folder of frames (a folder is a video only with it).
        map_scales: WinCLIP window scales for the peak-frame maps.
    """

    definitions: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    scene_prompts: str = "video"
    sample_fps: float | None = 2.0
    segment_seconds: float = 2.0
    smoothing_sigma_s: float = 1.0
    threshold: float = 0.5
    low_threshold: float | None = None
    merge_gap_s: float = 0.5
    min_interval_s: float = 0.0
    temperature: float = 0.07
    batch_size: int = 16
    frames_fps: float | None = None
    map_scales: tuple[int, ...] = (2, 3)

    def __post_init__(self) -> None:
        if self.sample_fps is not None and not (
            math.isfinite(self.sample_fps) and self.sample_fps > 0
        ):
            raise ConfigError(
                "sample_fps must be a positive number of frames per second, "
                f"got {self.sample_fps}.",
                param="sample_fps",
            )
        if not (math.isfinite(self.segment_seconds) and self.segment_seconds > 0):
            raise ConfigError(
                f"segment_seconds must be a positive number, got {self.segment_seconds}.",
                param="segment_seconds",
            )
        if not (math.isfinite(self.smoothing_sigma_s) and self.smoothing_sigma_s >= 0):
            raise ConfigError(
                "The smoothing sigma smoothing_sigma_s must be 0 or more seconds, "
                f"got {self.smoothing_sigma_s}.",
                param="smoothing_sigma_s",
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(
                f"Threshold must lie in [0, 1], got {self.threshold}.", param="threshold"
            )
        if self.low_threshold is not None and not 0.0 <= self.low_threshold <= self.threshold:
            raise ConfigError(
                f"The low threshold low_threshold must lie in [0, {self.threshold}] "
                f"(the threshold), got {self.low_threshold}.",
                param="low_threshold",
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(
                f"Temperature must be a positive number, got {self.temperature}.",
                param="temperature",
            )
        if self.batch_size < 1:
            raise ConfigError(
                f"Batch size batch_size must be at least 1, got {self.batch_size}.",
                param="batch_size",
            )
        if self.frames_fps is not None and not (
            math.isfinite(self.frames_fps) and self.frames_fps > 0
        ):
            raise ConfigError(
                f"frames_fps must be a positive frame rate, got {self.frames_fps}.",
                param="frames_fps",
            )
        if self.merge_gap_s < 0 or self.min_interval_s < 0:
            raise ConfigError("Merge gap and minimum interval length cannot be negative.")
        check_phrases(self.definitions, "definitions")
        check_phrases(self.normal, "normal")

    @property
    def hysteresis_low(self) -> float:
        """The threshold that keeps an interval open."""
        if self.low_threshold is not None:
            return self.low_threshold
        return max(0.0, self.threshold - 0.1)
