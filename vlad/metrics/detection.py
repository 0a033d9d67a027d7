"""Detection and segmentation metrics for visual anomaly detection, in pure numpy.

Image- and frame-level metrics (:func:`auroc`, :func:`average_precision`, :func:`f1_max`,
:func:`frame_auc`, :func:`frame_ap`) take binary labels (1 = anomalous) and real-valued
scores where higher means more anomalous. Pixel-level metrics (:func:`pixel_auroc`,
:func:`aupro`) take a stack of ground-truth masks and anomaly maps of the same shape.

Every metric sorts the scores once and groups tied scores into a single threshold step,
so it runs in O(n log n) and agrees with scikit-learn's ``roc_auc_score``,
``average_precision_score`` and ``precision_recall_curve``, and with the MVTec AD
(and anomalib) AUPRO. Bad inputs raise :class:`~vlad.errors.InputError` with a
one-sentence message.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from vlad.errors import InputError

__all__ = [
    "aupro",
    "auroc",
    "average_precision",
    "f1_max",
    "frame_ap",
    "frame_auc",
    "pixel_auroc",
    "pixel_metrics",
    "pr_curve",
    "roc_curve",
]

# 8-connectivity inside each image of an (N, H, W) stack and none across images, so a
# single ``ndimage.label`` call gives region labels that are unique over the whole stack.
_STACK_8_CONNECTIVITY = np.zeros((3, 3, 3), dtype=bool)
_STACK_8_CONNECTIVITY[1] = True


# --------------------------------------------------------------------------- validation


def _as_numeric(values: ArrayLike, name: str) -> NDArray[np.generic]:
    """Convert ``values`` to a numeric (bool, integer or float) numpy array.

    Args:
        values: The user's input.
        name: How the input is named in error messages.

    Returns:
        The input as a numpy array (not copied when already one).

    Raises:
        InputError: If the input is ragged or not numeric.

    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        msg = (
            f"{name} could not be read as one numeric array (its items are ragged or not "
            "numbers); pass a numpy array or a list of numbers with a regular shape."
        )
        raise InputError(msg) from exc
    if array.dtype.kind not in "biuf":
        msg = f"{name} has dtype {array.dtype}, not numbers; pass a numeric or boolean array."
        raise InputError(msg)
    return array


def _check_binary(labels: NDArray[np.generic], name: str) -> NDArray[np.bool_]:
    """Return ``labels`` as a bool array, checking that it only holds 0 and 1.

    Args:
        labels: A numeric array.
        name: How the input is named in error messages.

    Returns:
        A bool array of the same shape, True where the label is 1 (anomalous).

    Raises:
        InputError: If a value other than 0 or 1 (or NaN) is present.

    """
    if labels.dtype.kind == "b":
        return labels.astype(bool, copy=False)
    positive = labels == 1
    if not np.all(positive | (labels == 0)):
        bad = np.unique(labels[~(positive | (labels == 0))])
        shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        msg = (
            f"{name} must be binary (0/1 or bool) but contain {shown}; "
            f"binarise them first, for example with `{name} > 0`."
        )
        raise InputError(msg)
    return positive


def _check_finite(
    scores: NDArray[np.generic], name: str, *, narrow: bool = False
) -> NDArray[np.floating]:
    """Return ``scores`` as floats, checking that every value is finite.

    Args:
        scores: A numeric array.
        name: How the input is named in error messages.
        narrow: Keep float16 and float32 input as float32 (exact, and sorted several
            times faster than float64); other input becomes float64.

    Returns:
        The scores as a float64 (or, with ``narrow``, float32) array; tied values stay
        tied, since the casts are exact for float16/float32 input.

    Raises:
        InputError: If a NaN or infinite value is present.

    """
    small = narrow and scores.dtype in (np.float16, np.float32)
    scores = np.asarray(scores, dtype=np.float32 if small else np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        bad = np.flatnonzero(~finite.ravel())
        first = np.unravel_index(bad[0], scores.shape) if scores.ndim > 1 else (int(bad[0]),)
        where = ", ".join(str(int(i)) for i in first)
        msg = (
            f"{name} contain {bad.size} NaN or infinite value(s), the first at index "
            f"[{where}]; replace or drop them before computing the metric."
        )
        raise InputError(msg)
    return scores


def _check_both_classes(positive: NDArray[np.bool_], metric: str, things: str, name: str) -> None:
    """Check that ``positive`` holds both classes.

    Args:
        positive: Bool labels, True for anomalous.
        metric: The metric's name for the message, e.g. ``"AUROC"``.
        things: What the labels label, e.g. ``"samples"`` or ``"pixels"``.
        name: How the labels are named in the message, e.g. ``"labels"`` or ``"masks"``.

    Raises:
        InputError: If every label is anomalous or every label is normal.

    """
    n_pos = int(np.count_nonzero(positive))
    if n_pos == positive.size or n_pos == 0:
        which = "anomalous" if n_pos else "normal"
        msg = (
            f"{metric} needs both normal and anomalous {things}; the {name} given are all {which}."
        )
        raise InputError(msg)


def _validate_scored(
    labels: ArrayLike,
    scores: ArrayLike,
    metric: str,
    *,
    labels_name: str = "labels",
    scores_name: str = "scores",
    things: str = "samples",
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Validate a pair of labels and scores and flatten them.

    Args:
        labels: Binary labels, any shape.
        scores: Scores of the same shape as ``labels``.
        metric: The metric's name for messages.
        labels_name: How the labels are named in messages.
        scores_name: How the scores are named in messages.
        things: What the labels label, for messages.

    Returns:
        Flat bool labels and flat float64 scores of the same length.

    Raises:
        InputError: On a shape mismatch, empty, non-binary, single-class or
            non-finite input.

    """
    label_array = _as_numeric(labels, labels_name)
    score_array = _as_numeric(scores, scores_name)
    if label_array.shape != score_array.shape:
        msg = (
            f"{labels_name} has shape {label_array.shape} but {scores_name} has shape "
            f"{score_array.shape}; pass one score per label, with the same shape."
        )
        raise InputError(msg)
    if label_array.size == 0:
        msg = (
            f"{labels_name} and {scores_name} are empty; "
            f"pass at least one normal and one anomalous {things[:-1]}."
        )
        raise InputError(msg)
    positive = _check_binary(label_array, labels_name)
    score_float = _check_finite(score_array, scores_name)
    _check_both_classes(positive, metric, things, labels_name)
    return positive.ravel(), score_float.ravel()


def _validate_maps(
    masks: ArrayLike, maps: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.floating]]:
    """Validate ground-truth masks and anomaly maps and bring them to (N, H, W).

    Args:
        masks: Binary masks of shape (N, H, W), (N, 1, H, W) or (H, W).
        maps: Anomaly maps of the same shape.

    Returns:
        Bool masks and maps, both of shape (N, H, W); the maps are float32 when given as
        float16 or float32 (exact), else float64.

    Raises:
        InputError: On a shape mismatch, a shape that is not a stack of 2-D maps, or
            empty, non-binary or non-finite input.

    """
    mask_array = _as_numeric(masks, "masks")
    map_array = _as_numeric(maps, "maps")
    if mask_array.shape != map_array.shape:
        msg = (
            f"masks has shape {mask_array.shape} but maps has shape {map_array.shape}; "
            "pass one anomaly map per mask, with the same (N, H, W) shape."
        )
        raise InputError(msg)
    shape = mask_array.shape
    if len(shape) == 4 and shape[1] == 1:
        mask_array, map_array = mask_array[:, 0], map_array[:, 0]
    elif len(shape) == 2:
        mask_array, map_array = mask_array[None], map_array[None]
    elif len(shape) != 3:
        msg = (
            f"masks and maps have shape {shape}; pass a stack of shape (N, H, W) or "
            "(N, 1, H, W), or a single (H, W) map."
        )
        raise InputError(msg)
    if mask_array.size == 0:
        msg = (
            f"masks and maps have shape {shape} and hold no pixels; "
            "pass at least one non-empty mask and map."
        )
        raise InputError(msg)
    positive = _check_binary(mask_array, "masks")
    scores = _check_finite(map_array, "maps", narrow=True)
    return positive, scores


def _is_per_video(values: object) -> bool:
    """Tell whether ``values`` is a sequence of per-video arrays rather than a flat array.

    Args:
        values: Frame labels or scores, flat or per video.

    Returns:
        True for a list or tuple whose items are all 1-D (per-video arrays), False for a
        numpy array or a flat sequence of numbers.

    Raises:
        InputError: If a sequence mixes numbers and arrays, or holds arrays that are not
            1-D.

    """
    if isinstance(values, np.ndarray) or not isinstance(values, Sequence):
        return False
    if isinstance(values, str | bytes) or len(values) == 0:
        return False
    ndims = {np.ndim(item) for item in values}
    if ndims == {0}:
        return False
    if ndims == {1}:
        return True
    msg = (
        "a per-video sequence must hold only 1-D arrays (one value per frame), "
        f"but items with {sorted(ndims)} dimensions were found; pass one 1-D array per video."
    )
    raise InputError(msg)


def _concat_videos(
    labels: ArrayLike | Sequence[ArrayLike], scores: ArrayLike | Sequence[ArrayLike], metric: str
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Validate frame labels and scores, concatenating per-video arrays.

    Args:
        labels: Flat frame labels, or one 1-D label array per video.
        scores: Flat frame scores, or one 1-D score array per video.
        metric: The metric's name for messages.

    Returns:
        Flat bool labels and flat float64 scores.

    Raises:
        InputError: If one input is per video and the other flat, the video counts or a
            video's lengths differ, or the concatenated input is invalid.

    """
    labels_per_video = _is_per_video(labels)
    scores_per_video = _is_per_video(scores)
    if labels_per_video != scores_per_video:
        flat, per_video = ("scores", "labels") if labels_per_video else ("labels", "scores")
        msg = (
            f"{per_video} is a sequence of per-video arrays but {flat} is one flat array; "
            "pass both per video or both flat."
        )
        raise InputError(msg)
    if labels_per_video:
        label_videos = [_as_numeric(v, f"labels of video {i}") for i, v in enumerate(labels)]
        score_videos = [_as_numeric(v, f"scores of video {i}") for i, v in enumerate(scores)]
        if len(label_videos) != len(score_videos):
            msg = (
                f"labels are given for {len(label_videos)} videos but scores for "
                f"{len(score_videos)}; pass one label array and one score array per video."
            )
            raise InputError(msg)
        for index, (lab, sco) in enumerate(zip(label_videos, score_videos, strict=True)):
            if lab.shape != sco.shape:
                msg = (
                    f"video {index} has {lab.shape[0]} labels but {sco.shape[0]} scores; "
                    "pass one score per frame."
                )
                raise InputError(msg)
        labels = np.concatenate(label_videos)
        scores = np.concatenate(score_videos)
    return _validate_scored(labels, scores, metric, things="frames")


# ------------------------------------------------------------------------------- curves


def _threshold_steps(
    scores: NDArray[np.float64],
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """Sort scores in decreasing order and find where each group of tied scores ends.

    Args:
        scores: Flat finite scores.

    Returns:
        ``order`` (indices sorting the scores in decreasing order), ``ends`` (for each
        distinct score, from the highest, the position in the sorted order of the last
        element with that score) and ``thresholds`` (the distinct scores, decreasing).
        Cumulative sums over the sorted order taken at ``ends`` give, for every threshold
        ``t``, the totals over the elements with ``score >= t``.

    """
    order = np.argsort(scores)[::-1]
    ordered = scores[order]
    ends = np.append(np.flatnonzero(ordered[1:] != ordered[:-1]), ordered.size - 1)
    return order, ends, ordered[ends]


def _binary_counts(
    positive: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Count true and false positives at every distinct threshold.

    Args:
        positive: Flat bool labels.
        scores: Flat finite scores of the same length.

    Returns:
        ``tps``, ``fps`` and ``thresholds``: the numbers of anomalous and normal elements
        with ``score >= threshold``, for every distinct score from the highest.

    """
    order, ends, thresholds = _threshold_steps(scores)
    tps = np.cumsum(positive[order], dtype=np.int64)[ends]
    fps = ends.astype(np.int64) + 1 - tps
    return tps, fps, thresholds


def _trapezoid(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """Integrate ``y`` over ``x`` with the trapezoid rule.

    Args:
        y: Curve values.
        x: Nondecreasing abscissae of the same length.

    Returns:
        The area under the piecewise-linear curve.

    """
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2.0)


def _auroc(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    """ROC AUC of validated flat labels and scores (both classes present)."""
    tps, fps, _ = _binary_counts(positive, scores)
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    return _trapezoid(tpr, fpr)


def _average_precision(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> float:
    """Step-wise average precision of validated flat labels and scores."""
    tps, fps, _ = _binary_counts(positive, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


# ------------------------------------------------------------------------------ metrics


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve, equal to ``sklearn.metrics.roc_auc_score``.

    The ROC curve has one point per distinct score (tied scores form one threshold step,
    which the trapezoid rule crosses diagonally, counting a tied normal/anomalous pair as
    half a correct ranking).

    Args:
        labels: Binary labels, 1 (or True) for anomalous; any shape.
        scores: Anomaly scores of the same shape; higher means more anomalous.

    Returns:
        The AUROC in [0, 1]; 0.5 is chance, 1 ranks every anomaly above every normal.

    Raises:
        InputError: If the shapes differ, the input is empty, the labels are not binary or
            hold a single class, or a score is NaN or infinite.

    Example:
        >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75

    """
    positive, values = _validate_scored(labels, scores, "AUROC")
    return _auroc(positive, values)


def average_precision(labels: ArrayLike, scores: ArrayLike) -> float:
    """Average precision, equal to ``sklearn.metrics.average_precision_score``.

    AP is the step-wise sum ``sum_k (R_k - R_{k-1}) * P_k`` over the distinct score
    thresholds from the highest down, without interpolation.

    Args:
        labels: Binary labels, 1 (or True) for anomalous; any shape.
        scores: Anomaly scores of the same shape; higher means more anomalous.

    Returns:
        The average precision in [0, 1].

    Raises:
        InputError: If the shapes differ, the input is empty, the labels are not binary or
            hold a single class, or a score is NaN or infinite.

    """
    positive, values = _validate_scored(labels, scores, "average precision")
    return _average_precision(positive, values)


def f1_max(labels: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """Best F1 score over all thresholds of the precision-recall curve.

    A sample is predicted anomalous when ``score >= threshold``. Every distinct score is
    tried as the threshold; when several reach the same best F1, the highest (the one
    with the fewest alarms) is returned.

    Args:
        labels: Binary labels, 1 (or True) for anomalous; any shape.
        scores: Anomaly scores of the same shape; higher means more anomalous.

    Returns:
        ``(f1, threshold)``: the maximum F1 and the score threshold that reaches it.

    Raises:
        InputError: If the shapes differ, the input is empty, the labels are not binary or
            hold a single class, or a score is NaN or infinite.

    Example:
        >>> f1_max([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        (0.8, 0.35)

    """
    positive, values = _validate_scored(labels, scores, "F1-max")
    tps, fps, thresholds = _binary_counts(positive, values)
    # 2PR / (P + R) == 2 TP / (predicted positives + actual positives)
    f1 = 2.0 * tps / (tps + fps + tps[-1])
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def _split_sorted(
    positive: NDArray[np.bool_], values: NDArray[np.floating]
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """The normal pixels' values sorted ascending, and the anomalous pixels' values.

    Sorting values alone (not an argsort) uses numpy's vectorised sort: on 100 M float32
    pixels it takes a couple of seconds where an argsort takes a minute.
    """
    normal = values[~positive]
    normal.sort()
    return normal, values[positive]


def _auroc_split(normal_sorted: NDArray[np.floating], anomalous: NDArray[np.floating]) -> float:
    """AUROC as the Mann-Whitney statistic, ties counted half (equal to :func:`_auroc`).

    The smaller class is looked up in the sorted values of the other, so the cost beyond
    the one sort is O(m log n) for the m values of the smaller class.
    """
    n_neg, n_pos = normal_sorted.size, anomalous.size
    if n_pos <= n_neg:
        queries = np.sort(anomalous)
        below = np.searchsorted(normal_sorted, queries, side="left")
        upto = np.searchsorted(normal_sorted, queries, side="right")
        wins = below.sum(dtype=np.int64) + 0.5 * (upto - below).sum(dtype=np.int64)
    else:
        ordered = np.sort(anomalous)
        upto = np.searchsorted(ordered, normal_sorted, side="right")
        below = np.searchsorted(ordered, normal_sorted, side="left")
        # each normal pixel is ranked below the anomalous ones above it, ties count half
        wins = (n_pos - upto).sum(dtype=np.int64) + 0.5 * (upto - below).sum(dtype=np.int64)
    return float(wins) / (float(n_pos) * float(n_neg))


def _aupro_split(
    positive: NDArray[np.bool_],
    values: NDArray[np.floating],
    normal_sorted: NDArray[np.floating],
    limit: float,
) -> float:
    """AUPRO from the normal pixels' sorted values (see :func:`aupro` for the definition).

    The PRO/FPR curve has a point at every distinct value; only the steps where the FPR
    grows (a distinct normal value ``v`` held by ``c`` normal pixels) add area, a trapezoid
    ``c / n_normal * (pro(> v) + pro(>= v)) / 2``. Summed over the steps wholly below the
    limit, this is a sum over anomalous pixels: each adds its region weight times the
    number of those normal pixels below its value (ties counting half), divided by
    ``n_normal``; two ``searchsorted`` calls into the sorted normal values give the
    counts, so nothing but the normal values is ever sorted. The step that crosses the
    limit is interpolated, as in the MVTec AD evaluation code.
    """
    regions, n_regions = ndimage.label(positive, structure=_STACK_8_CONNECTIVITY)
    if n_regions == 0:
        msg = (
            "AUPRO needs at least one anomalous region, but the masks given are all normal; "
            "pass masks with anomalous pixels, or leave AUPRO out for this data."
        )
        raise InputError(msg)
    n_normal = int(normal_sorted.size)
    if n_normal == 0:
        msg = (
            "AUPRO needs normal pixels to measure false positives, but the masks given are "
            "all anomalous; pass masks that also mark normal pixels."
        )
        raise InputError(msg)
    region_of = regions[positive]
    sizes = np.bincount(region_of, minlength=n_regions + 1)
    weight = np.zeros(n_regions + 1, dtype=np.float64)
    weight[1:] = 1.0 / (n_regions * sizes[1:].astype(np.float64))
    anomalous, pixel_weight = values[positive], weight[region_of]

    # The steps wholly at or below the limit: the normal values above ``crossing`` (the
    # value of the (k + 1)-th highest normal pixel, k the most that fit under the limit).
    most = min(n_normal, int(np.floor(limit * n_normal)))
    if most == n_normal:
        whole, crossing = normal_sorted, None
    else:
        crossing = normal_sorted[n_normal - most - 1]
        whole = normal_sorted[np.searchsorted(normal_sorted, crossing, side="right") :]
    below = np.searchsorted(whole, anomalous, side="left")
    upto = np.searchsorted(whole, anomalous, side="right")
    area = float(np.dot(pixel_weight, below + 0.5 * (upto - below))) / n_normal
    if crossing is not None:
        x0 = whole.size / n_normal
        x1 = (n_normal - np.searchsorted(normal_sorted, crossing, side="left")) / n_normal
        if x0 < limit:
            y0 = min(float(pixel_weight[anomalous > crossing].sum()), 1.0)
            y1 = min(float(pixel_weight[anomalous >= crossing].sum()), 1.0)
            y = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += (limit - x0) * (y0 + y) / 2.0
    return area / limit


def _check_fpr_limit(fpr_limit: object) -> float:
    if (
        isinstance(fpr_limit, bool)
        or not isinstance(fpr_limit, numbers.Real)
        or not 0.0 < float(fpr_limit) <= 1.0
    ):
        msg = (
            f"fpr_limit must be a number in (0, 1] but is {fpr_limit!r}; "
            "pass a false positive rate limit such as 0.3."
        )
        raise InputError(msg)
    return float(fpr_limit)


def pixel_auroc(masks: ArrayLike, maps: ArrayLike) -> float:
    """Pixel-level AUROC over every pixel of a stack of masks and anomaly maps.

    Args:
        masks: Ground-truth masks of shape (N, H, W) (or (N, 1, H, W), or one (H, W)),
            bool or 0/1, 1 for anomalous pixels.
        maps: Anomaly maps of the same shape; higher means more anomalous.

    Returns:
        The AUROC of all pixels pooled together, as :func:`auroc` on the flattened
        arrays (computed from one sort of the normal pixels' values).

    Raises:
        InputError: If the shapes differ or are not a stack of 2-D maps, the input is
            empty, the masks are not binary or all one class, or a map value is NaN or
            infinite.

    """
    positive, values = _validate_maps(masks, maps)
    _check_both_classes(positive, "pixel AUROC", "pixels", "masks")
    return _auroc_split(*_split_sorted(positive, values))


def aupro(masks: ArrayLike, maps: ArrayLike, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap (PRO) curve, as in MVTec AD.

    Regions are the 8-connected components of each image's mask. For every threshold
    ``t`` (every distinct map value), PRO(t) is the mean over all regions of all images
    of the fraction of the region's pixels with ``map >= t``, and FPR(t) is the fraction
    of normal pixels of all images with ``map >= t``. PRO is integrated over FPR with the
    trapezoid rule from 0 to ``fpr_limit`` (the point at ``fpr_limit`` linearly
    interpolated) and divided by ``fpr_limit``, so a perfect detector scores 1.0.

    The cost is one sort of the normal pixels' values (each anomalous pixel adds
    ``1 / (n_regions * its region's size)`` to PRO, each normal pixel ``1 / n_normal`` to
    FPR), O(n log n) in the number of pixels.

    Args:
        masks: Ground-truth masks of shape (N, H, W) (or (N, 1, H, W), or one (H, W)),
            bool or 0/1, 1 for anomalous pixels; at least one pixel must be anomalous and
            one normal.
        maps: Anomaly maps of the same shape; higher means more anomalous.
        fpr_limit: Upper limit of the false positive rate, in (0, 1].

    Returns:
        The AUPRO in [0, 1].

    Raises:
        InputError: If ``fpr_limit`` is not in (0, 1], the shapes differ or are not a
            stack of 2-D maps, the input is empty, the masks are not binary, have no
            anomalous region or no normal pixel, or a map value is NaN or infinite.

    """
    limit = _check_fpr_limit(fpr_limit)
    positive, values = _validate_maps(masks, maps)
    normal_sorted, _ = _split_sorted(positive, values)
    return _aupro_split(positive, values, normal_sorted, limit)


def pixel_metrics(masks: ArrayLike, maps: ArrayLike, fpr_limit: float = 0.3) -> tuple[float, float]:
    """:func:`pixel_auroc` and :func:`aupro` of the same maps, sharing one sort.

    Args:
        masks: Ground-truth masks, as for :func:`aupro`.
        maps: Anomaly maps of the same shape.
        fpr_limit: The AUPRO's false positive rate limit, in (0, 1].

    Returns:
        ``(pixel_auroc, aupro)``, equal to the two functions called apart.

    Raises:
        InputError: As :func:`pixel_auroc` and :func:`aupro`.
    """
    limit = _check_fpr_limit(fpr_limit)
    positive, values = _validate_maps(masks, maps)
    _check_both_classes(positive, "pixel AUROC", "pixels", "masks")
    normal_sorted, anomalous = _split_sorted(positive, values)
    return _auroc_split(normal_sorted, anomalous), _aupro_split(
        positive, values, normal_sorted, limit
    )


def roc_curve(
    labels: ArrayLike, scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The ROC curve whose area :func:`auroc` gives: one point per distinct score.

    Args:
        labels: Binary labels, 1 (or True) for anomalous; any shape.
        scores: Anomaly scores of the same shape; higher means more anomalous.

    Returns:
        ``(fpr, tpr, thresholds)``, starting at (0, 0) with threshold ``inf``; as
        ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.

    Raises:
        InputError: As :func:`auroc`.

    Example:
        >>> fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    positive, values = _validate_scored(labels, scores, "ROC curve")
    tps, fps, thresholds = _binary_counts(positive, values)
    return (
        np.concatenate(([0.0], fps / fps[-1])),
        np.concatenate(([0.0], tps / tps[-1])),
        np.concatenate(([np.inf], thresholds)),
    )


def pr_curve(
    labels: ArrayLike, scores: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The precision-recall curve whose step sum :func:`average_precision` gives.

    Args:
        labels: Binary labels, 1 (or True) for anomalous; any shape.
        scores: Anomaly scores of the same shape; higher means more anomalous.

    Returns:
        ``(recall, precision, thresholds)``, one point per distinct score from the
        highest (recall increasing).

    Raises:
        InputError: As :func:`average_precision`.

    Example:
        >>> recall, precision, _ = pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> recall.tolist(), [round(p, 3) for p in precision]
        ([0.5, 0.5, 1.0, 1.0], [1.0, 0.5, 0.667, 0.5])
    """
    positive, values = _validate_scored(labels, scores, "precision-recall curve")
    tps, fps, thresholds = _binary_counts(positive, values)
    return tps / tps[-1], tps / (tps + fps), thresholds


def frame_auc(
    labels: ArrayLike | Sequence[ArrayLike], scores: ArrayLike | Sequence[ArrayLike]
) -> float:
    """Frame-level AUROC for videos.

    Args:
        labels: Binary frame labels (1 for anomalous), either one flat array over all
            frames or a sequence with one 1-D array per video.
        scores: Frame anomaly scores in the same form as ``labels``; per-video arrays must
            match the labels video by video.

    Returns:
        The AUROC over all frames of all videos pooled together.

    Raises:
        InputError: If one input is per video and the other flat, the numbers of videos or
            of frames in a video differ, or the pooled input is invalid (see
            :func:`auroc`).

    """
    positive, values = _concat_videos(labels, scores, "frame AUC")
    return _auroc(positive, values)


def frame_ap(
    labels: ArrayLike | Sequence[ArrayLike], scores: ArrayLike | Sequence[ArrayLike]
) -> float:
    """Frame-level average precision for videos.

    Args:
        labels: Binary frame labels (1 for anomalous), either one flat array over all
            frames or a sequence with one 1-D array per video.
        scores: Frame anomaly scores in the same form as ``labels``; per-video arrays must
            match the labels video by video.

    Returns:
        The average precision over all frames of all videos pooled together.

    Raises:
        InputError: If one input is per video and the other flat, the numbers of videos or
            of frames in a video differ, or the pooled input is invalid (see
            :func:`average_precision`).

    """
    positive, values = _concat_videos(labels, scores, "frame AP")
    return _average_precision(positive, values)
