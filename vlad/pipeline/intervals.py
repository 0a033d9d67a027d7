"""Cutting a score track into anomalous intervals: hysteresis, then spans, written once."""

from __future__ import annotations

import numpy as np

from vlad.config import VideoConfig
from vlad.scoring import temporal
from vlad.types import Interval


def cut_intervals(
    values: np.ndarray,
    times_s: np.ndarray,
    duration_s: float,
    config: VideoConfig,
    definition: str | None,
) -> list[Interval]:
    """The intervals where a smoothed track reaches the threshold.

    An interval opens at ``config.threshold`` and stays open down to
    ``config.hysteresis_low``; intervals closer than ``merge_gap_s`` join, shorter than
    ``min_interval_s`` go.

    Args:
        values: (N,) smoothed scores.
        times_s: (N,) their times.
        duration_s: Length of the video (the last interval may end there).
        config: Thresholds and merging.
        definition: What the track scores (each interval names it).

    Returns:
        The intervals, by start time, each with its peak score.
    """
    runs = temporal.hysteresis_runs(values, config.threshold, config.hysteresis_low)
    spans = temporal.runs_to_spans(
        runs,
        times_s,
        duration_s,
        merge_gap_s=config.merge_gap_s,
        min_duration_s=config.min_interval_s,
    )
    return [
        Interval(start_s, end_s, float(values[start:stop].max()), definition)
        for start, stop, start_s, end_s in spans
    ]
