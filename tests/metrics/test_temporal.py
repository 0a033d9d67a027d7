"""Temporal metrics: IoU of spans, best IoU, recall at IoU thresholds, one-to-one matching."""

from __future__ import annotations

import numpy as np
import pytest

from vlad.errors import InputError
from vlad.metrics import IOU_THRESHOLDS, best_iou, match_spans, recall_at_iou, temporal_iou


def test_temporal_iou_of_every_pair() -> None:
    iou = temporal_iou([[0, 4], [3, 5]], [[2, 6], [4, 8], [10, 11]])
    expected = [[2 / 6, 0 / 8, 0.0], [2 / 4, 1 / 5, 0.0]]
    np.testing.assert_allclose(iou, expected, atol=1e-12)


def test_temporal_iou_of_touching_spans_is_zero_and_of_equal_points_one() -> None:
    assert temporal_iou([[0, 2]], [[2, 4]]).tolist() == [[0.0]]
    assert temporal_iou([[3, 3], [3, 3]], [[3, 3], [4, 4]]).tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert temporal_iou([[1, 3]], [[2, 2]]).tolist() == [[0.0]]


def test_best_iou_per_reference_span_zero_without_predictions() -> None:
    np.testing.assert_allclose(best_iou([[0, 4], [3, 5]], [[2, 6], [4, 8]]), [0.5, 0.2])
    assert best_iou(np.zeros((0, 2)), [[0, 1], [2, 3]]).tolist() == [0.0, 0.0]
    assert best_iou([[0, 1]], []).tolist() == []


def test_recall_at_the_default_thresholds() -> None:
    assert IOU_THRESHOLDS == (0.3, 0.5, 0.7)
    assert recall_at_iou([0.2, 0.3, 0.5, 0.69, 1.0]) == {0.3: 0.8, 0.5: 0.6, 0.7: 0.2}
    assert recall_at_iou([0.9], thresholds=(1.0,)) == {1.0: 0.0}


def test_match_spans_pairs_one_to_one_maximising_the_summed_iou() -> None:
    matches = match_spans([[5, 9], [0, 4], [20, 30]], [[0, 4], [6, 9]])
    assert [(m.predicted, m.reference) for m in matches] == [(1, 0), (0, 1)]
    assert [m.iou for m in matches] == pytest.approx([1.0, 0.75])
    # Greedy (best IoU first) pairs [0, 10] with [0, 9] (0.9) and leaves [0, 2] with
    # [2, 10] (0); the assignment takes 0.8 + 2/9 instead.
    matches = match_spans([[0, 10], [0, 2]], [[0, 9], [2, 10]])
    assert [(m.predicted, m.reference) for m in matches] == [(1, 0), (0, 1)]
    assert [m.iou for m in matches] == pytest.approx([2 / 9, 0.8])


def test_match_spans_keeps_index_order_among_equal_spans() -> None:
    spans = [[0, 5], [0, 5], [0, 5], [7, 9]]
    assert [(m.predicted, m.reference) for m in match_spans(spans, spans)] == [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    assert match_spans([], [[0, 1]]) == []


@pytest.mark.parametrize(
    ("call", "message", "param"),
    [
        (
            lambda: temporal_iou([[4, 2]], [[0, 1]]),
            "predicted[0] ends before it starts (4 > 2); give [start, end].",
            "predicted",
        ),
        (
            lambda: temporal_iou([[0, 1]], [[0, 1, 2]]),
            "reference must be [start, end] pairs, got an array of shape (1, 3).",
            "reference",
        ),
        (
            lambda: temporal_iou([[0, float("nan")]], [[0, 1]]),
            "predicted holds NaN or infinite times; give finite numbers.",
            "predicted",
        ),
        (
            lambda: temporal_iou([["a", "b"]], [[0, 1]]),
            "predicted must be [start, end] pairs of numbers.",
            "predicted",
        ),
        (
            lambda: recall_at_iou([]),
            "best is empty; give the best IoU of at least one span.",
            "best",
        ),
        (
            lambda: recall_at_iou([0.5], thresholds=(0.0,)),
            "thresholds must lie in (0, 1], got 0.0.",
            "thresholds",
        ),
    ],
)
def test_bad_spans_say_one_sentence(call, message: str, param: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    assert str(caught.value) == message
    assert caught.value.param == param
