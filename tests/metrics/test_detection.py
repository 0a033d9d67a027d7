"""Tests of vlad.metrics: hand-worked values, scikit-learn and anomalib parity, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from vlad.errors import InputError
from vlad.metrics import (
    aupro,
    auroc,
    average_precision,
    f1_max,
    frame_ap,
    frame_auc,
    pixel_auroc,
    pixel_metrics,
    pr_curve,
    roc_curve,
)

TOL = 1e-9


def sklearn_f1_max(labels, scores):
    precision, recall, _ = precision_recall_curve(labels, scores)
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return float(f1.max())


def random_case(seed, n, ties):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]  # both classes present
    if ties:
        scores = rng.integers(0, max(2, n // 10), n).astype(np.float64)
    else:
        scores = rng.standard_normal(n)
    return labels, scores


# ----------------------------------------------------------------------- hand-worked values


def test_auroc_hand_value():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ranked right
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75, abs=1e-15)


def test_auroc_tie_counts_half():
    # pairs: (0.5 vs 0.5) tie = 1/2, the other three pairs right -> 3.5 / 4
    assert auroc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875, abs=1e-15)
    # everything tied is chance
    assert auroc([0, 1, 1, 0, 1], [3.0] * 5) == pytest.approx(0.5, abs=1e-15)


def test_auroc_perfect_and_inverted():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auroc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0


def test_average_precision_hand_values():
    # thresholds 0.8: P=1, R=1/2; 0.4: P=1/2, R=1/2; 0.35: P=2/3, R=1
    # AP = 1/2 * 1 + 0 * 1/2 + 1/2 * 2/3 = 5/6
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    # tie group at 0.8 holds one positive and two negatives:
    # 0.9: P=1, R=1/3; 0.8: P=2/4, R=2/3; 0.1: P=3/5, R=1 -> (1 + 1/2 + 3/5) / 3 = 0.7
    labels, scores = [1, 0, 1, 0, 1], [0.9, 0.8, 0.8, 0.8, 0.1]
    assert average_precision(labels, scores) == pytest.approx(0.7, abs=1e-15)


def test_f1_max_hand_value():
    # F1 at 0.8: 2/3, at 0.4: 1/2, at 0.35: 2*2/(3+2) = 0.8, at 0.1: 2/3
    f1, threshold = f1_max([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert f1 == pytest.approx(0.8, abs=1e-15)
    assert threshold == 0.35


def test_f1_max_with_ties_returns_highest_best_threshold():
    # tie group at 0.5: threshold 0.5 -> TP=2, FP=1, F1 = 4/5; threshold 0.9 -> F1 = 2/3
    f1, threshold = f1_max([0, 1, 1], [0.5, 0.5, 0.9])
    assert (f1, threshold) == (pytest.approx(0.8), 0.5)
    # two thresholds reach F1 = 2/3: 0.9 (TP=1, FP=0, 2 positives) and 0.1 (TP=2, FP=2)
    f1, threshold = f1_max([1, 0, 1, 0], [0.9, 0.5, 0.1, 0.5])
    assert (f1, threshold) == (pytest.approx(2 / 3), 0.9)


def test_pixel_auroc_hand_value():
    masks = np.array([[[0, 1], [0, 0]], [[1, 0], [0, 0]]])
    maps = np.array([[[0.1, 0.9], [0.2, 0.95]], [[0.3, 0.0], [0.0, 0.05]]])
    # positives 0.9 and 0.3 against negatives 0.1 0.2 0.95 0.0 0.0 0.05: 5 + 5 of 12
    assert pixel_auroc(masks, maps) == pytest.approx(10 / 12, abs=1e-15)
    # (N, 1, H, W) and a single (H, W) map are accepted too
    assert pixel_auroc(masks[:, None], maps[:, None]) == pytest.approx(10 / 12, abs=1e-15)
    # image 0 alone: 0.9 beats 0.1 and 0.2 but not 0.95
    assert pixel_auroc(masks[0], maps[0]) == pytest.approx(2 / 3, abs=1e-15)


# A 2x4 image with two regions: A = {(0, 0)} (1 pixel, weight 1/2 each) and
# B = {(1, 2), (1, 3)} (2 pixels, weight 1/4 each); 5 normal pixels (1/5 FPR each).
# Sorted: 0.9 A -> (fpr 0, pro 1/2); 0.8 ties a normal pixel and a B pixel -> (1/5, 3/4);
# 0.5 B -> (1/5, 1); then only normal pixels -> (2/5, 1), ..., (1, 1).
HAND_MASK = np.array([[[1, 0, 0, 0], [0, 0, 1, 1]]])
HAND_MAP = np.array([[[0.9, 0.8, 0.3, 0.1], [0.2, 0.4, 0.8, 0.5]]])


@pytest.mark.parametrize(
    ("fpr_limit", "expected"),
    [
        # (0.5 + 0.625) / 2 * 0.1 on the tied slope, interpolated at 0.1 -> / 0.1
        (0.1, 0.5625),
        # 0.2 * (0.5 + 0.75) / 2 + 0.1 * 1 -> / 0.3
        (0.3, 0.75),
        # 0.125 + 0.8 * 1
        (1.0, 0.925),
    ],
)
def test_aupro_hand_values(fpr_limit, expected):
    assert aupro(HAND_MASK, HAND_MAP, fpr_limit) == pytest.approx(expected, abs=1e-12)


def test_aupro_uses_8_connectivity():
    # diagonal pixels (0,0),(1,1) form ONE region of 2 pixels (weight 1/4 each), (2,3) is a
    # second region (weight 1/2); normals all score 0.5.
    mask = np.zeros((3, 4), dtype=bool)
    mask[0, 0] = mask[1, 1] = mask[2, 3] = True
    scores = np.full((3, 4), 0.5)
    scores[0, 0], scores[2, 3], scores[1, 1] = 0.9, 0.8, 0.1
    # curve: (0, 1/4), (0, 3/4), (1, 3/4), (1, 1) -> PRO is 3/4 on [0, 0.3]
    # (4-connectivity would give three 1-pixel regions and 2/3)
    assert aupro(mask, scores) == pytest.approx(0.75, abs=1e-12)


def test_aupro_regions_are_unique_across_images():
    masks = np.zeros((2, 3, 3), dtype=bool)
    masks[0, 0, 0] = True  # region of 1 pixel in image 0
    masks[1, 0, :2] = True  # region of 2 pixels in image 1, same label if not offset
    maps = np.full((2, 3, 3), 0.5)
    maps[0, 0, 0] = 0.9
    maps[1, 0, :2] = 0.1
    # two regions: PRO = 1/2 at FPR 0 (merged into one region it would be 1/3)
    assert aupro(masks, maps) == pytest.approx(0.5, abs=1e-12)


def blob_masks(rng, n, size, max_blobs=3):
    """Masks made of random rectangles and smooth blobs; some images stay normal."""
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        for _ in range(rng.integers(0, max_blobs + 1)):
            if rng.random() < 0.5:
                h, w = rng.integers(2, size // 4, 2)
                y, x = rng.integers(0, size - h), rng.integers(0, size - w)
                masks[i, y : y + h, x : x + w] = True
            else:
                cy, cx = rng.integers(0, size, 2)
                r = rng.integers(2, size // 6)
                yy, xx = np.ogrid[:size, :size]
                blob = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
                masks[i] |= blob & (rng.random((size, size)) < 0.9)
    masks[0, 1:5, 1:5] = True  # at least one region
    return masks


def smooth_maps(rng, masks, signal=1.0, sigma=2.0):
    noise = rng.standard_normal(masks.shape)
    maps = ndimage.gaussian_filter(noise + signal * masks, (0, sigma, sigma))
    return maps.astype(np.float32)


def test_aupro_perfect_and_inverted_maps():
    rng = np.random.default_rng(0)
    masks = blob_masks(rng, 4, 32)
    # (up to float rounding in the cumulative sum of per-pixel PRO weights)
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0, abs=1e-12)
    assert aupro(masks, -masks.astype(float)) == 0.0
    # any map that ranks every anomalous pixel above every normal one is perfect
    maps = np.where(masks, 2.0 + rng.random(masks.shape), rng.random(masks.shape))
    assert aupro(masks, maps) == pytest.approx(1.0, abs=1e-12)
    assert aupro(masks, -maps) == pytest.approx(0.0, abs=1e-12)


def test_aupro_invariant_to_monotone_transform_and_layout():
    rng = np.random.default_rng(1)
    masks = blob_masks(rng, 5, 32)
    maps = smooth_maps(rng, masks).astype(np.float64)
    value = aupro(masks, maps, 0.2)
    assert 0.0 < value < 1.0
    assert aupro(masks, np.exp(maps), 0.2) == pytest.approx(value, abs=1e-12)
    assert aupro(masks[:, None], maps[:, None], 0.2) == pytest.approx(value, abs=1e-12)
    assert aupro(masks.astype(np.uint8), maps.astype(np.float32), 0.2) == pytest.approx(
        value, abs=1e-6
    )


def naive_aupro(masks, maps, fpr_limit):
    """Slow reference: PRO and FPR recomputed from scratch at every threshold."""
    structure = np.zeros((3, 3, 3))
    structure[1] = 1  # 8-connected within an image, never across images
    regions, n = ndimage.label(masks, structure=structure)
    normal = ~masks
    xs, ys = [0.0], [0.0]
    for t in np.unique(maps)[::-1]:
        above = maps >= t
        xs.append(above[normal].mean())
        ys.append(np.mean([above[regions == k].mean() for k in range(1, n + 1)]))
    area = 0.0
    for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True):
        if x1 <= x0 or x0 >= fpr_limit:
            continue
        xe = min(x1, fpr_limit)
        ye = y0 + (y1 - y0) * (xe - x0) / (x1 - x0)
        area += (xe - x0) * (y0 + ye) / 2
    return area / fpr_limit


@settings(max_examples=40, deadline=None)
@given(
    masks=hnp.arrays(np.bool_, (2, 5, 6)),
    maps=hnp.arrays(np.int8, (2, 5, 6), elements=st.integers(0, 6)),
    fpr_limit=st.sampled_from([0.05, 0.3, 0.5, 1.0]),
)
def test_aupro_matches_naive_reference(masks, maps, fpr_limit):
    assume(masks.any() and not masks.all())
    expected = naive_aupro(masks, maps, fpr_limit)
    assert aupro(masks, maps, fpr_limit) == pytest.approx(expected, abs=1e-9)


# ------------------------------------------------------------------- scikit-learn agreement


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("seed", "n"), [(0, 2), (1, 7), (2, 100), (3, 1000), (4, 50_000)])
def test_agrees_with_sklearn(seed, n, ties):
    labels, scores = random_case(seed, n, ties)
    assert abs(auroc(labels, scores) - roc_auc_score(labels, scores)) < TOL
    assert abs(average_precision(labels, scores) - average_precision_score(labels, scores)) < TOL
    f1, threshold = f1_max(labels, scores)
    assert abs(f1 - sklearn_f1_max(labels, scores)) < TOL
    # the threshold reaches that F1 with the rule score >= threshold
    predicted = scores >= threshold
    tp = np.sum(predicted & (labels == 1))
    assert f1 == pytest.approx(2 * tp / (predicted.sum() + labels.sum()), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(st.integers(-3, 3).map(float), st.floats(-1e6, 1e6, allow_nan=False)),
        ),
        min_size=2,
        max_size=60,
    )
)
def test_property_agrees_with_sklearn(pairs):
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs])
    assume(labels.any() and not labels.all())
    assert abs(auroc(labels, scores) - roc_auc_score(labels, scores)) < TOL
    assert abs(average_precision(labels, scores) - average_precision_score(labels, scores)) < TOL
    assert abs(f1_max(labels, scores)[0] - sklearn_f1_max(labels, scores)) < TOL


def test_accepts_bool_labels_float32_scores_and_any_shape():
    labels, scores = random_case(5, 60, ties=True)
    expected = roc_auc_score(labels, scores)
    assert auroc(labels.astype(bool), scores.astype(np.float32)) == pytest.approx(expected)
    assert auroc(labels.reshape(6, 10), scores.reshape(6, 10)) == pytest.approx(expected)
    assert auroc(list(labels), list(scores)) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_auroc_agrees_with_sklearn(seed):
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 6, 32)
    maps = smooth_maps(rng, masks)
    expected = roc_auc_score(masks.ravel(), maps.ravel())
    assert abs(pixel_auroc(masks, maps) - expected) < TOL
    rounded = np.round(maps, 1)  # many ties
    expected = roc_auc_score(masks.ravel(), rounded.ravel())
    assert abs(pixel_auroc(masks, rounded) - expected) < TOL


@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_metrics_share_one_sort_and_match_either_class_majority(seed):
    rng = np.random.default_rng(seed)
    masks = blob_masks(rng, 6, 32)
    maps = smooth_maps(rng, masks)
    both = pixel_metrics(masks, maps, 0.2)
    assert both == (pixel_auroc(masks, maps), aupro(masks, maps, 0.2))
    # float16 maps (what vlad eval images keeps) read as float32, float64 alike
    half = maps.astype(np.float16)
    assert pixel_metrics(masks, half) == pytest.approx(
        pixel_metrics(masks, half.astype(np.float64)), abs=1e-12
    )
    # more anomalous than normal pixels: the other side of the rank count
    inverted = ~masks
    expected = roc_auc_score(inverted.ravel(), np.round(maps, 2).ravel())
    assert abs(pixel_auroc(inverted, np.round(maps, 2)) - expected) < TOL


@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_pr_curves_agree_with_sklearn(ties):
    labels, scores = random_case(7, 300, ties)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    ref_fpr, ref_tpr, ref_thresholds = sklearn_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thresholds[1:], ref_thresholds[1:])
    recall, precision, pr_thresholds = pr_curve(labels, scores)
    ref_precision, ref_recall, ref_pr_thresholds = precision_recall_curve(labels, scores)
    # scikit-learn lists recall decreasing and ends with the (recall 0, precision 1) point
    np.testing.assert_allclose(recall, ref_recall[:-1][::-1])
    np.testing.assert_allclose(precision, ref_precision[:-1][::-1])
    np.testing.assert_allclose(pr_thresholds, ref_pr_thresholds[::-1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(labels, scores), abs=1e-12)
    step_sum = float(np.sum(np.diff(recall, prepend=0.0) * precision))
    assert step_sum == pytest.approx(average_precision(labels, scores), abs=1e-12)


def test_frame_metrics_per_video_equal_flat_and_sklearn():
    rng = np.random.default_rng(3)
    lengths = [5, 0, 17, 9]
    labels = [rng.integers(0, 2, k) for k in lengths]
    scores = [np.round(rng.random(k), 1) for k in lengths]
    flat_labels, flat_scores = np.concatenate(labels), np.concatenate(scores)
    expected_auc = roc_auc_score(flat_labels, flat_scores)
    expected_ap = average_precision_score(flat_labels, flat_scores)
    assert abs(frame_auc(labels, scores) - expected_auc) < TOL
    assert abs(frame_auc(flat_labels, flat_scores) - expected_auc) < TOL
    assert abs(frame_auc(list(flat_labels), list(flat_scores)) - expected_auc) < TOL
    assert abs(frame_ap(tuple(labels), tuple(scores)) - expected_ap) < TOL
    assert abs(frame_ap(flat_labels, flat_scores) - expected_ap) < TOL
    lists = [[0, 1], [1, 0, 0]], [[0.2, 0.4], [0.9, 0.1, 0.4]]
    assert frame_auc(*lists) == pytest.approx(
        roc_auc_score([0, 1, 1, 0, 0], [0.2, 0.4, 0.9, 0.1, 0.4])
    )


def test_inputs_are_not_modified():
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.3, 0.1, 0.2, 0.4])
    masks = HAND_MASK.copy()
    maps = HAND_MAP.copy()
    auroc(labels, scores)
    f1_max(labels, scores)
    aupro(masks, maps)
    np.testing.assert_array_equal(labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(scores, [0.3, 0.1, 0.2, 0.4])
    np.testing.assert_array_equal(masks, HAND_MASK)
    np.testing.assert_array_equal(maps, HAND_MAP)


# ------------------------------------------------------------------------------ bad inputs

GOOD_MASKS = np.zeros((2, 4, 4), dtype=np.uint8)
GOOD_MASKS[0, 1:3, 1:3] = 1
GOOD_MAPS = np.linspace(0, 1, 32).reshape(2, 4, 4)

BAD_INPUTS = [
    pytest.param(
        lambda: auroc([0, 1, 1, 0], [0.1, 0.2, 0.3]),
        r"^labels has shape \(4,\) but scores has shape \(3,\); pass one score per label",
        id="length-mismatch",
    ),
    pytest.param(
        lambda: average_precision(np.zeros((2, 3)), np.zeros((3, 2))),
        r"labels has shape \(2, 3\) but scores has shape \(3, 2\)",
        id="shape-mismatch",
    ),
    pytest.param(lambda: auroc([], []), r"^labels and scores are empty; pass at least", id="empty"),
    pytest.param(
        lambda: auroc([0, 2, 1, 3], [0.1, 0.2, 0.3, 0.4]),
        r"^labels must be binary \(0/1 or bool\) but contain 2, 3; binarise them first",
        id="not-binary",
    ),
    pytest.param(
        lambda: f1_max([0, np.nan, 1], [0.1, 0.2, 0.3]),
        r"^labels must be binary .* contain nan",
        id="nan-label",
    ),
    pytest.param(
        lambda: auroc([1, 1, 1], [0.1, 0.2, 0.3]),
        r"^AUROC needs both normal and anomalous samples; the labels given are all anomalous\.$",
        id="all-anomalous",
    ),
    pytest.param(
        lambda: average_precision([0, 0], [0.1, 0.2]),
        r"^average precision needs both normal and anomalous samples; .* all normal\.$",
        id="all-normal",
    ),
    pytest.param(
        lambda: f1_max([True, True], [0.1, 0.2]),
        r"^F1-max needs both normal and anomalous samples",
        id="f1-single-class",
    ),
    pytest.param(
        lambda: auroc([0, 1, 0], [0.1, np.nan, 0.3]),
        r"^scores contain 1 NaN or infinite value\(s\), the first at index \[1\]; replace",
        id="nan-score",
    ),
    pytest.param(
        lambda: average_precision([0, 1, 0], [0.1, 0.2, -np.inf]),
        r"^scores contain 1 NaN or infinite value\(s\), the first at index \[2\]",
        id="inf-score",
    ),
    pytest.param(
        lambda: auroc(["a", "b"], [0.1, 0.2]),
        r"^labels has dtype <U1, not numbers; pass a numeric or boolean array\.$",
        id="string-labels",
    ),
    pytest.param(
        lambda: auroc([0, 1], [[0.1], [0.2, 0.3]]),
        r"^scores could not be read as one numeric array",
        id="ragged-scores",
    ),
    pytest.param(
        lambda: pixel_auroc(GOOD_MASKS, GOOD_MAPS[:, :3]),
        r"^masks has shape \(2, 4, 4\) but maps has shape \(2, 3, 4\); pass one anomaly map",
        id="map-shape-mismatch",
    ),
    pytest.param(
        lambda: pixel_auroc(GOOD_MASKS.ravel(), GOOD_MAPS.ravel()),
        r"^masks and maps have shape \(32,\); pass a stack of shape \(N, H, W\)",
        id="map-1d",
    ),
    pytest.param(
        lambda: aupro(np.zeros((0, 4, 4)), np.zeros((0, 4, 4))),
        r"^masks and maps have shape \(0, 4, 4\) and hold no pixels",
        id="map-empty",
    ),
    pytest.param(
        lambda: pixel_auroc(GOOD_MASKS * 255, GOOD_MAPS),
        r"^masks must be binary \(0/1 or bool\) but contain 255; .* `masks > 0`\.$",
        id="mask-0-255",
    ),
    pytest.param(
        lambda: pixel_auroc(np.zeros((2, 4, 4)), GOOD_MAPS),
        r"^pixel AUROC needs both normal and anomalous pixels; the masks given are all normal",
        id="pixel-single-class",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, np.where(GOOD_MASKS, np.nan, GOOD_MAPS)),
        r"^maps contain 4 NaN or infinite value\(s\), the first at index \[0, 1, 1\]",
        id="nan-map",
    ),
    pytest.param(
        lambda: aupro(np.zeros((2, 4, 4)), GOOD_MAPS),
        r"^AUPRO needs at least one anomalous region, but the masks given are all normal",
        id="aupro-no-region",
    ),
    pytest.param(
        lambda: aupro(np.ones((2, 4, 4)), GOOD_MAPS),
        r"^AUPRO needs normal pixels to measure false positives",
        id="aupro-all-anomalous",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, GOOD_MAPS, 0.0),
        r"^fpr_limit must be a number in \(0, 1\] but is 0\.0; pass",
        id="fpr-limit-zero",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, GOOD_MAPS, 1.5),
        r"^fpr_limit must be a number in \(0, 1\] but is 1\.5",
        id="fpr-limit-big",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, GOOD_MAPS, float("nan")),
        r"^fpr_limit must be a number in \(0, 1\] but is nan",
        id="fpr-limit-nan",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, GOOD_MAPS, "0.3"),
        r"^fpr_limit must be a number in \(0, 1\] but is '0\.3'",
        id="fpr-limit-str",
    ),
    pytest.param(
        lambda: aupro(GOOD_MASKS, GOOD_MAPS, True),
        r"^fpr_limit must be a number in \(0, 1\] but is True",
        id="fpr-limit-bool",
    ),
    pytest.param(
        lambda: frame_auc([[0, 1], [1, 0, 1]], [[0.1, 0.2], [0.3, 0.4]]),
        r"^video 1 has 3 labels but 2 scores; pass one score per frame\.$",
        id="video-length-mismatch",
    ),
    pytest.param(
        lambda: frame_ap([[0, 1], [1, 0]], [[0.1, 0.2]]),
        r"^labels are given for 2 videos but scores for 1; pass one label array",
        id="video-count-mismatch",
    ),
    pytest.param(
        lambda: frame_auc([[0, 1], [1, 0]], np.array([0.1, 0.2, 0.3, 0.4])),
        r"^labels is a sequence of per-video arrays but scores is one flat array",
        id="video-per-video-vs-flat",
    ),
    pytest.param(
        lambda: frame_auc([[0, 1], 1], [[0.1, 0.2], 0.3]),
        r"^a per-video sequence must hold only 1-D arrays",
        id="video-mixed-items",
    ),
    pytest.param(
        lambda: frame_auc([[1, 1], [1]], [[0.1, 0.2], [0.3]]),
        r"^frame AUC needs both normal and anomalous frames; the labels given are all anomalous",
        id="video-single-class",
    ),
    pytest.param(
        lambda: frame_ap([[0, 1]], [[0.1, np.inf]]),
        r"^scores contain 1 NaN or infinite value\(s\)",
        id="video-inf",
    ),
]


@pytest.mark.parametrize(("call", "pattern"), BAD_INPUTS)
def test_bad_input_raises_one_sentence(call, pattern):
    with pytest.raises(InputError, match=pattern) as info:
        call()
    message = str(info.value)
    assert message.endswith(".")
    assert "\n" not in message
    assert ". " not in message  # a single sentence


# ---------------------------------------------------------------------------- anomalib parity


@pytest.mark.parity
def test_aupro_agrees_with_anomalib():
    pytest.importorskip("anomalib")
    torch = pytest.importorskip("torch")
    from anomalib.metrics.aupro import _AUPRO

    rng = np.random.default_rng(2024)
    worst = 0.0
    for fpr_limit, signal in [(0.3, 1.0), (0.3, 0.3), (0.05, 1.0), (1.0, 0.5)]:
        masks = blob_masks(rng, 10, 64)
        maps = smooth_maps(rng, masks, signal=signal)  # float32: same ties for both
        reference = _AUPRO(fpr_limit=fpr_limit)
        reference.update(torch.from_numpy(maps), torch.from_numpy(masks.astype(np.float32)))
        expected = float(reference.compute())
        got = aupro(masks, maps, fpr_limit)
        worst = max(worst, abs(got - expected))
        assert got == pytest.approx(expected, abs=1e-3)
    # float32 accumulation in anomalib vs float64 here: typically ~1e-7
    assert worst < 1e-5
