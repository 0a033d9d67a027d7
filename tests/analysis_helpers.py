"""Shared helpers for analyzer, chat and demo tests: a video with one known event, and a
definition and threshold calibrated on the tiny (untrained) CLIP so that the event, and
only the event, reaches the threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.videos import moving_square_frames, write_video

FPS = 10
EVENT = (20, 40)  # frames with the event: 2.0 s to 4.0 s
N_FRAMES = 60
CANDIDATES = (
    "a red car",
    "a red truck",
    "a red object",
    "smoke",
    "a fire",
    "an explosion",
    "a person riding a bicycle",
    "a fight between people",
)


def event_frames(n: int = N_FRAMES) -> list[np.ndarray]:
    frames = moving_square_frames(n, 48, 64)
    for index in range(EVENT[0], min(EVENT[1], n)):
        frames[index][8:44, 8:56] = (230, 20, 20)  # a big red object fills the view
    return frames


def write_event_video(path: Path) -> Path:
    return write_video(path, event_frames(), fps=FPS, codec="libx264")


@dataclass(frozen=True)
class Calibration:
    """A definition that separates the event frames, with a threshold between them."""

    definition: str
    threshold: float
    others: tuple[str, ...]  # candidates that never reach the threshold


def calibrate(encoder, video: Path, candidates=CANDIDATES) -> Calibration:
    from vlad.config import VideoConfig
    from vlad.pipeline.video import VideoDetector

    detector = VideoDetector(encoder, VideoConfig(sample_fps=5.0, smoothing_sigma_s=0.0))
    encoded = detector.encode(video)
    inside = (encoded.frame_indices >= EVENT[0]) & (encoded.frame_indices < EVENT[1])
    raw = detector.scorer.score(encoded.embeddings, candidates)
    margins = raw[inside].min(axis=0) - raw[~inside].max(axis=0)
    best = int(np.argmax(margins))
    assert margins[best] > 0, "some definition must separate the red frames"
    threshold = float((raw[inside, best].min() + raw[~inside, best].max()) / 2)
    others = tuple(
        c for k, c in enumerate(candidates) if k != best and raw[:, k].max() < threshold - 1e-3
    )
    return Calibration(candidates[best], threshold, others)


def video_config(threshold: float, **overrides):
    from vlad.config import VideoConfig

    settings = {
        "sample_fps": 5.0,
        "smoothing_sigma_s": 0.0,
        "threshold": threshold,
        "low_threshold": threshold,
        "merge_gap_s": 0.0,
    }
    settings.update(overrides)
    return VideoConfig(**settings)


def fight_explanation(
    verdict: str = "anomalous",
    *,
    peak: float = 0.9,
    threshold: float = 0.5,
    low_threshold: float = 0.4,
):
    """A hand-built 60 s video explanation for the text checks.

    When anomalous, one interval 0:40-0:45 of "a fight" at ``peak`` (evidence E1, peak at
    0:42); the rest of the track is 0.1.
    """
    from vlad.answer.explanation import Evidence, EvidenceItem, Explanation
    from vlad.types import Interval, ScoreTrack

    times = np.arange(0, 60, 1.0)
    values = np.where((times >= 40) & (times < 45), peak, 0.1)
    track = ScoreTrack(times, np.arange(60), values, "a fight")
    evidence = ()
    if verdict == "anomalous":
        evidence = (
            Evidence(
                "E1",
                Interval(40.0, 45.0, peak, "a fight"),
                42.0,
                (EvidenceItem("definition", "a fight", peak),),
            ),
        )
    return Explanation(
        input="x.mp4",
        kind="video",
        verdict=verdict,
        score=peak if verdict == "anomalous" else 0.1,
        threshold=threshold,
        low_threshold=low_threshold,
        duration_s=60.0,
        definitions=("a fight",),
        scene=None,
        fused=track,
        tracks=(track,),
        intervals=tuple(e.interval for e in evidence),
        evidence=evidence,
        keyframes=(),
    )
