"""Temporal metrics of predicted spans against reference spans, in seconds or frames.

- :func:`temporal_iou`: the IoU of every predicted span with every reference span
  (intersection over the length of their union; disjoint spans score 0, as in the
  ActivityNet Captions and temporal grounding evaluations).
- :func:`best_iou`: per reference span, its best IoU with any predicted span.
- :func:`recall_at_iou`: the share of reference spans whose best IoU reaches each threshold
  (recall at IoU 0.3 / 0.5 / 0.7 by default). Precision is the same call with the roles
  swapped.
- :func:`match_spans`: a one-to-one pairing of predicted with reference spans that
  maximises the summed IoU (the Hungarian method), used to pair predicted sentences with
  the reference sentences they should be scored against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from vlad.errors import InputError

__all__ = [
    "IOU_THRESHOLDS",
    "SpanMatch",
    "best_iou",
    "match_spans",
    "recall_at_iou",
    "temporal_iou",
]

#: The IoU thresholds temporal recall is reported at.
IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)

# Ties between pairings of equal IoU go to the pairing closest to index order (i with i),
# so a prediction that repeats the reference's spans is paired sentence by sentence.
_ORDER_TIE_BREAK = 1e-9


def _spans(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        spans = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be [start, end] pairs of numbers.", param=name) from None
    if spans.size == 0:
        return np.zeros((0, 2))
    if spans.ndim != 2 or spans.shape[1] != 2:
        raise InputError(
            f"{name} must be [start, end] pairs, got an array of shape {spans.shape}.",
            param=name,
        )
    if not np.isfinite(spans).all():
        raise InputError(f"{name} holds NaN or infinite times; give finite numbers.", param=name)
    bad = np.flatnonzero(spans[:, 1] < spans[:, 0])
    if bad.size:
        start, end = spans[bad[0]]
        raise InputError(
            f"{name}[{bad[0]}] ends before it starts ({start:g} > {end:g}); give [start, end].",
            param=name,
        )
    return spans


def temporal_iou(predicted: ArrayLike, reference: ArrayLike) -> NDArray[np.float64]:
    """IoU of every predicted span with every reference span.

    Args:
        predicted: (P, 2) spans ``[start, end]``.
        reference: (R, 2) spans ``[start, end]``.

    Returns:
        A (P, R) array in [0, 1]. Two identical spans of zero length score 1.

    Raises:
        InputError: A span is not a pair of finite numbers or ends before it starts.

    Example:
        >>> temporal_iou([[0, 4]], [[2, 6], [4, 8]]).tolist()
        [[0.3333333333333333, 0.0]]
    """
    pred = _spans(predicted, "predicted")
    ref = _spans(reference, "reference")
    start = np.maximum(pred[:, None, 0], ref[None, :, 0])
    end = np.minimum(pred[:, None, 1], ref[None, :, 1])
    inter = np.clip(end - start, 0.0, None)
    union = (pred[:, None, 1] - pred[:, None, 0]) + (ref[None, :, 1] - ref[None, :, 0]) - inter
    same = (pred[:, None, :] == ref[None, :, :]).all(axis=2)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), same.astype(float))


def best_iou(predicted: ArrayLike, reference: ArrayLike) -> NDArray[np.float64]:
    """Per reference span, its best IoU with any predicted span (0 when none is given).

    Args:
        predicted: (P, 2) spans.
        reference: (R, 2) spans.

    Returns:
        An (R,) array.
    """
    iou = temporal_iou(predicted, reference)
    if iou.shape[0] == 0:
        return np.zeros(iou.shape[1])
    return iou.max(axis=0)


def recall_at_iou(
    best: ArrayLike, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> dict[float, float]:
    """Share of spans whose best IoU reaches each threshold.

    Args:
        best: Best IoU of each reference span (from :func:`best_iou`, pooled over videos
            as a benchmark pools them).
        thresholds: IoU thresholds in (0, 1].

    Returns:
        Threshold -> recall.

    Raises:
        InputError: ``best`` is empty or a threshold lies outside (0, 1].

    Example:
        >>> recall_at_iou([0.2, 0.6, 0.9])
        {0.3: 0.6666666666666666, 0.5: 0.6666666666666666, 0.7: 0.3333333333333333}
    """
    values = np.asarray(best, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise InputError("best is empty; give the best IoU of at least one span.", param="best")
    for threshold in thresholds:
        if not 0 < threshold <= 1:
            raise InputError(f"thresholds must lie in (0, 1], got {threshold}.", param="thresholds")
    return {float(t): float(np.mean(values >= t)) for t in thresholds}


@dataclass(frozen=True)
class SpanMatch:
    """One predicted span paired with one reference span.

    Attributes:
        predicted: Index of the predicted span.
        reference: Index of the reference span.
        iou: Their IoU.
    """

    predicted: int
    reference: int
    iou: float


def match_spans(predicted: ArrayLike, reference: ArrayLike) -> list[SpanMatch]:
    """Pair predicted with reference spans one to one, maximising the summed IoU.

    ``min(P, R)`` pairs are made, pairs of IoU 0 included (a sentence still describes the
    video when its span misses); the spans left over stay unpaired. Among pairings of equal
    summed IoU the one closest to index order wins.

    Args:
        predicted: (P, 2) spans.
        reference: (R, 2) spans.

    Returns:
        The pairs, ordered by reference index.

    Example:
        >>> [(m.predicted, m.reference) for m in match_spans([[5, 9], [0, 4]], [[0, 4], [5, 9]])]
        [(1, 0), (0, 1)]
    """
    iou = temporal_iou(predicted, reference)
    if iou.size == 0:
        return []
    rows, cols = np.indices(iou.shape)
    cost = -iou + _ORDER_TIE_BREAK * np.abs(rows - cols)
    pred_index, ref_index = linear_sum_assignment(cost)
    order = np.argsort(ref_index)
    return [
        SpanMatch(int(pred_index[k]), int(ref_index[k]), float(iou[pred_index[k], ref_index[k]]))
        for k in order
    ]
