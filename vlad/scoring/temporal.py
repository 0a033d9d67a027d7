"""Score tracks over time: smoothing, segments, hysteresis intervals, per-frame scores.

Pure numpy functions on plain arrays, so that each can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlad.errors import ConfigError
from vlad.types import Segment


def gaussian_smooth(times_s: np.ndarray, values: np.ndarray, sigma_s: float) -> np.ndarray:
    """Gaussian kernel smoothing over time, correct for uneven sample times.

    Each output is the Gaussian-weighted mean of the samples within 4 sigma of it, so the
    ends are not pulled towards zero and a constant track stays constant.

    Args:
        times_s: (N,) increasing sample times in seconds.
        values: (N,) scores.
        sigma_s: Kernel width in seconds; 0 returns a copy of ``values``.

    Returns:
        (N,) smoothed scores.

    Raises:
        ConfigError: When ``sigma_s`` is negative or not finite.
    """
    if not (np.isfinite(sigma_s) and sigma_s >= 0):
        raise ConfigError(
            f"The smoothing sigma must be zero or more seconds, got {sigma_s}.", param="sigma_s"
        )
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times_s, dtype=np.float64)
    if sigma_s == 0 or values.size < 2:
        return values.copy()
    lows = np.searchsorted(times, times - 4 * sigma_s, side="left")
    highs = np.searchsorted(times, times + 4 * sigma_s, side="right")
    out = np.empty_like(values)
    for i, (low, high) in enumerate(zip(lows, highs, strict=True)):
        weights = np.exp(-0.5 * ((times[low:high] - times[i]) / sigma_s) ** 2)
        out[i] = float(weights @ values[low:high] / weights.sum())
    return out


def smooth_frames(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing over neighbouring frames: :func:`gaussian_smooth` on frame numbers.

    The one smoothing of vlad, for a track with one value per frame (rule deduction's
    perception smoothing): frame ``i`` sits at time ``i``, so the kernel is ``sigma_frames``
    frames wide, reaches 4 sigma, and the ends are renormalised rather than zeroed.

    Args:
        values: (N,) per-frame values of one video.
        sigma_frames: Kernel width in frames; 0 returns a copy.

    Returns:
        (N,) smoothed values; a constant track stays constant.

    Raises:
        ConfigError: When ``sigma_frames`` is negative or not finite.
    """
    if not (np.isfinite(sigma_frames) and sigma_frames >= 0):
        raise ConfigError(
            f"The smoothing width must be zero or more frames, got {sigma_frames}.",
            param="smooth",
        )
    values = np.asarray(values, dtype=np.float64)
    reach = int(np.floor(4 * sigma_frames))
    if sigma_frames > 0 and values.size > 2 * reach + 1:
        # Evenly spaced frames: the same weighted means as gaussian_smooth, by convolution.
        kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma_frames) ** 2)
        total = np.convolve(values, kernel, mode="same")
        return total / np.convolve(np.ones_like(values), kernel, mode="same")
    return gaussian_smooth(np.arange(values.size, dtype=np.float64), values, sigma_frames)


def hysteresis_runs(values: np.ndarray, high: float, low: float) -> list[tuple[int, int]]:
    """Runs of samples that rise to ``high`` and stay at or above ``low``.

    A run starts at the first sample reaching ``high`` and extends backwards and forwards
    over neighbouring samples that stay at or above ``low`` (the classic two-threshold
    rule: a brief dip below ``high`` does not split an event).

    Args:
        values: (N,) scores.
        high: Score needed to open a run.
        low: Score needed to keep a run open; at most ``high``.

    Returns:
        ``(start, stop)`` sample index ranges, stop exclusive, in order, not overlapping.

    Raises:
        ConfigError: When ``low`` exceeds ``high``.
    """
    if low > high:
        raise ConfigError(f"The low threshold ({low}) must not exceed the high one ({high}).")
    values = np.asarray(values, dtype=np.float64)
    above_low = values >= low
    runs: list[tuple[int, int]] = []
    i = 0
    n = values.size
    while i < n:
        if not above_low[i]:
            i += 1
            continue
        start = i
        while i < n and above_low[i]:
            i += 1
        if np.any(values[start:i] >= high):
            runs.append((start, i))
    return runs


def runs_to_spans(
    runs: Sequence[tuple[int, int]],
    times_s: np.ndarray,
    end_time_s: float,
    *,
    merge_gap_s: float = 0.0,
    min_duration_s: float = 0.0,
) -> list[tuple[int, int, float, float]]:
    """Turn sample runs into time spans, merging close ones and dropping short ones.

    A run covers from its first sample's time to the time of the sample after its last one
    (or ``end_time_s`` for a run that reaches the end).

    Args:
        runs: Sample index ranges from :func:`hysteresis_runs`.
        times_s: (N,) sample times.
        end_time_s: End of the video in seconds.
        merge_gap_s: Runs separated by at most this many seconds become one.
        min_duration_s: Spans shorter than this are dropped (after merging).

    Returns:
        ``(start_index, stop_index, start_s, end_s)`` per span.
    """
    spans: list[tuple[int, int, float, float]] = []
    for start, stop in runs:
        start_s = float(times_s[start])
        end_s = float(times_s[stop]) if stop < len(times_s) else float(end_time_s)
        if spans and start_s - spans[-1][3] <= merge_gap_s:
            previous = spans.pop()
            spans.append((previous[0], stop, previous[2], end_s))
        else:
            spans.append((start, stop, start_s, end_s))
    return [span for span in spans if span[3] - span[2] >= min_duration_s]


def segment_scores(
    times_s: np.ndarray, values: np.ndarray, segments: Sequence[Segment]
) -> list[Segment]:
    """Score each segment with the highest sample score inside it.

    Args:
        times_s: (N,) sample times.
        values: (N,) scores.
        segments: Segments covering the video, in order.

    Returns:
        The segments with ``score`` set; a segment without any sample takes the score of
        the nearest sample before it (or after it, for a leading empty segment).
    """
    times = np.asarray(times_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    scored = []
    for segment in segments:
        low = int(np.searchsorted(times, segment.start_s, side="left"))
        high = int(np.searchsorted(times, segment.end_s, side="left"))
        if high > low:
            score = float(values[low:high].max())
        elif values.size:
            score = float(values[min(max(low - 1, 0), values.size - 1)])
        else:
            score = None
        scored.append(
            Segment(
                index=segment.index,
                start_s=segment.start_s,
                end_s=segment.end_s,
                start_frame=segment.start_frame,
                end_frame=segment.end_frame,
                score=score,
            )
        )
    return scored


def scores_at(sample_times_s: np.ndarray, values: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of sample scores onto other times (held flat past the ends).

    Used to put a score on every original frame of a video from the sampled frames.

    Args:
        sample_times_s: (N,) increasing times of the scored samples.
        values: (N,) their scores.
        times_s: (M,) times to score, e.g. the timestamps of every frame.

    Returns:
        (M,) scores.
    """
    if len(values) == 0:
        raise ConfigError("There are no scored samples to interpolate from.")
    return np.interp(
        np.asarray(times_s, dtype=np.float64),
        np.asarray(sample_times_s, dtype=np.float64),
        np.asarray(values, dtype=np.float64),
    )
