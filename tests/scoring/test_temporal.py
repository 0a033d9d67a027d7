"""Score-track maths on hand-built tracks with exact values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlad.errors import ConfigError
from vlad.scoring import temporal
from vlad.types import Segment


def test_gaussian_smooth_exact_three_points():
    times = np.array([0.0, 1.0, 2.0])
    values = np.array([0.0, 1.0, 0.0])
    out = temporal.gaussian_smooth(times, values, sigma_s=1.0)
    w1 = math.exp(-0.5)
    w2 = math.exp(-2.0)
    assert out[1] == pytest.approx(1.0 / (1 + 2 * w1))
    assert out[0] == pytest.approx(w1 / (1 + w1 + w2))
    assert out[2] == pytest.approx(out[0])


def test_gaussian_smooth_keeps_constants_and_handles_uneven_times():
    times = np.array([0.0, 0.1, 0.5, 2.0, 2.05, 7.0])
    assert np.allclose(temporal.gaussian_smooth(times, np.full(6, 0.3), 0.7), 0.3)
    # A lone sample farther than 4 sigma from every other keeps its own value.
    values = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert temporal.gaussian_smooth(times, values, 1.0)[-1] == 1.0


def test_gaussian_smooth_zero_sigma_is_identity_and_bad_sigma_refused():
    values = np.array([0.2, 0.9, 0.1])
    assert np.array_equal(temporal.gaussian_smooth(np.arange(3.0), values, 0.0), values)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="smoothing sigma"):
            temporal.gaussian_smooth(np.arange(3.0), values, bad)


def test_smooth_frames_exact_values() -> None:
    # One smoothing for deduction too: gaussian_smooth on frame numbers (4 sigma, ends
    # renormalised), the rule deduction's perception smoothing.
    assert np.allclose(temporal.smooth_frames(np.full(7, 0.3), 2.0), 0.3)
    impulse = np.zeros(9)
    impulse[4] = 1.0
    out = temporal.smooth_frames(impulse, 1.0)
    weight = [math.exp(-0.5 * k * k) for k in range(5)]
    assert out[4] == pytest.approx(1 / (weight[0] + 2 * sum(weight[1:])))
    # Frame 3 sees frames 0..7 (frame -1 does not exist): offsets -3..4.
    assert out[3] == pytest.approx(out[5])
    assert out[3] == pytest.approx(weight[1] / (weight[0] + 2 * sum(weight[1:4]) + weight[4]))
    # The first frame sees frames 0..4 only: its weights are renormalised over them.
    assert out[0] == pytest.approx(weight[4] / sum(weight))
    assert np.array_equal(out, temporal.gaussian_smooth(np.arange(9.0), impulse, 1.0))
    assert np.array_equal(temporal.smooth_frames(impulse, 0), impulse)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ConfigError, match="zero or more frames, got") as info:
            temporal.smooth_frames(impulse, bad)
        assert info.value.param == "smooth"


def test_hysteresis_keeps_dips_above_low_and_needs_high_to_open():
    values = np.array([0.1, 0.45, 0.7, 0.5, 0.65, 0.3, 0.55, 0.45, 0.2, 0.8])
    assert temporal.hysteresis_runs(values, high=0.6, low=0.4) == [(1, 5), (9, 10)]
    # The run 6..8 reaches only 0.55 < high: it never opens.
    assert temporal.hysteresis_runs(values, high=0.9, low=0.4) == []
    assert temporal.hysteresis_runs(values, high=0.6, low=0.6) == [(2, 3), (4, 5), (9, 10)]


def test_hysteresis_rejects_low_above_high():
    with pytest.raises(ConfigError, match="low threshold"):
        temporal.hysteresis_runs(np.zeros(3), high=0.4, low=0.5)


def test_runs_to_spans_times_merging_and_min_duration():
    times = np.arange(10) * 0.5  # 0.0 .. 4.5 s
    spans = temporal.runs_to_spans([(1, 3), (4, 5), (8, 10)], times, end_time_s=5.0)
    assert spans == [(1, 3, 0.5, 1.5), (4, 5, 2.0, 2.5), (8, 10, 4.0, 5.0)]
    merged = temporal.runs_to_spans([(1, 3), (4, 5), (8, 10)], times, 5.0, merge_gap_s=0.5)
    assert merged == [(1, 5, 0.5, 2.5), (8, 10, 4.0, 5.0)]
    long_only = temporal.runs_to_spans([(1, 3), (4, 5)], times, 5.0, min_duration_s=0.75)
    assert long_only == [(1, 3, 0.5, 1.5)]


def test_segment_scores_take_the_maximum_inside_and_fill_empty_segments():
    times = np.array([0.0, 1.0, 2.0, 3.0, 9.0])
    values = np.array([0.1, 0.7, 0.2, 0.4, 0.9])
    segments = [
        Segment(0, 0.0, 2.0, 0, 50),
        Segment(1, 2.0, 4.0, 50, 100),
        Segment(2, 4.0, 6.0, 100, 150),  # no sample: takes the one before (0.4)
        Segment(3, 6.0, 10.0, 150, 250),
    ]
    scored = temporal.segment_scores(times, values, segments)
    assert [s.score for s in scored] == [0.7, 0.4, 0.4, 0.9]
    assert [(s.start_frame, s.end_frame) for s in scored] == [
        (0, 50),
        (50, 100),
        (100, 150),
        (150, 250),
    ]


def test_scores_at_interpolates_onto_every_frame():
    sample_times = np.array([0.0, 1.0, 2.0])
    values = np.array([0.0, 1.0, 0.5])
    frame_times = np.arange(0, 2.5, 0.25)
    out = temporal.scores_at(sample_times, values, frame_times)
    assert np.allclose(out, [0, 0.25, 0.5, 0.75, 1.0, 0.875, 0.75, 0.625, 0.5, 0.5])
    with pytest.raises(ConfigError, match="no scored samples"):
        temporal.scores_at(np.array([]), np.array([]), frame_times)
