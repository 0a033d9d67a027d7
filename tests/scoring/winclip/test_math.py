"""Tests of vlad.scoring.winclip.math and window_indices: exact values on hand-built tensors."""

from __future__ import annotations

import math

import pytest
import torch

from vlad.encoders.clip import window_indices
from vlad.scoring.winclip import math as wm

T = 0.07


def slow_harmonic_aggregation(
    window_scores: torch.Tensor, grid: tuple[int, int], scale: int
) -> torch.Tensor:
    """The obvious loop: for each patch, the harmonic mean of the windows containing it."""
    rows, cols = grid
    tops = [(r, c) for r in range(rows - scale + 1) for c in range(cols - scale + 1)]
    out = torch.zeros(window_scores.shape[0], rows * cols, dtype=torch.float64)
    for b in range(window_scores.shape[0]):
        for r in range(rows):
            for c in range(cols):
                scores = [
                    float(window_scores[b, w])
                    for w, (top, left) in enumerate(tops)
                    if top <= r < top + scale and left <= c < left + scale
                ]
                if not scores or any(s == 0 for s in scores):
                    value = 0.0
                else:
                    value = len(scores) / sum(1.0 / s for s in scores)
                out[b, r * cols + c] = value
    return out


# --- cosine_similarity -------------------------------------------------------------------


def test_cosine_similarity_hand_values():
    embeddings = torch.tensor([[3.0, 4.0], [1.0, 0.0], [-2.0, 0.0]])
    references = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    expected = torch.tensor([[0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]])
    assert torch.allclose(wm.cosine_similarity(embeddings, references), expected, atol=1e-7)


def test_cosine_similarity_keeps_leading_dims():
    embeddings = torch.tensor([[[3.0, 4.0]], [[0.0, -5.0]]])  # (2, 1, 2)
    references = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    got = wm.cosine_similarity(embeddings, references)
    assert got.shape == (2, 1, 3)
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[[0.8, 0.6, 0.7 * 2 * r]], [[-1.0, 0.0, -r]]])
    assert torch.allclose(got, expected, atol=1e-6)


# --- class_scores ------------------------------------------------------------------------

TEXT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # row 0 normal, row 1 anomalous


def test_class_scores_equal_to_anomalous_text():
    got = wm.class_scores(torch.tensor([0.0, 3.0]), TEXT)
    expected = torch.softmax(torch.tensor([0.0, 1.0 / T], dtype=torch.float64), 0)[1]
    assert got.shape == ()
    assert float(got) == pytest.approx(float(expected), abs=1e-7)
    assert float(got) == pytest.approx(1.0 / (1.0 + math.exp(-1.0 / T)), abs=1e-7)


def test_class_scores_equal_to_normal_text_and_halfway():
    got = wm.class_scores(torch.tensor([[2.0, 0.0], [1.0, 1.0]]), TEXT)
    assert got[0].item() == pytest.approx(1.0 / (1.0 + math.exp(1.0 / T)), rel=1e-4)
    assert got[1].item() == pytest.approx(0.5, abs=1e-7)


def test_class_scores_temperature_and_batch_shape():
    # temperature 1: logits are the cosines [0.6, 0.8] -> sigmoid(0.2)
    embeddings = torch.tensor([[[3.0, 4.0], [4.0, 3.0]]] * 2)  # (2, 2, 2)
    got = wm.class_scores(embeddings, TEXT, temperature=1.0)
    assert got.shape == (2, 2)
    assert got[0, 0].item() == pytest.approx(1 / (1 + math.exp(-0.2)), abs=1e-6)
    assert got[1, 1].item() == pytest.approx(1 / (1 + math.exp(0.2)), abs=1e-6)


def test_class_scores_ignore_text_norm():
    scaled = TEXT * torch.tensor([[5.0], [0.1]])
    embeddings = torch.tensor([[3.0, 4.0]])
    assert torch.allclose(wm.class_scores(embeddings, scaled), wm.class_scores(embeddings, TEXT))


# --- window_indices ----------------------------------------------------------------------


def test_window_indices_3x4_scale_2():
    expected = torch.tensor(
        [
            [0, 1, 4, 5],
            [1, 2, 5, 6],
            [2, 3, 6, 7],
            [4, 5, 8, 9],
            [5, 6, 9, 10],
            [6, 7, 10, 11],
        ]
    )
    got = window_indices((3, 4), 2)
    assert got.dtype == torch.long
    assert torch.equal(got, expected)


def test_window_indices_scale_1_and_full():
    assert torch.equal(window_indices((2, 3), 1), torch.arange(6).view(6, 1))
    assert torch.equal(window_indices((3, 3), 3), torch.arange(9).view(1, 9))


@pytest.mark.parametrize("grid, scale", [((3, 4), 4), ((4, 3), 4), ((2, 2), 3)])
def test_window_indices_too_big(grid, scale):
    rows, cols = grid
    with pytest.raises(
        ValueError, match=f"A window of {scale} patches does not fit a {rows}x{cols} patch grid"
    ):
        window_indices(grid, scale)


# --- windows_covering --------------------------------------------------------------------


def test_windows_covering_3x3_scale_2_exact_table():
    cover = wm.windows_covering(window_indices((3, 3), 2), 9)
    expected = torch.tensor(
        [
            [0, -1, -1, -1],
            [0, 1, -1, -1],
            [1, -1, -1, -1],
            [0, 2, -1, -1],
            [0, 1, 2, 3],
            [1, 3, -1, -1],
            [2, -1, -1, -1],
            [2, 3, -1, -1],
            [3, -1, -1, -1],
        ]
    )
    assert cover.dtype == torch.long
    assert torch.equal(cover, expected)


def test_windows_covering_uncovered_patch():
    # patch 2 is in no window: its row is all padding
    cover = wm.windows_covering(torch.tensor([[0, 1], [1, 3]]), 4)
    assert torch.equal(cover, torch.tensor([[0, -1], [0, 1], [-1, -1], [1, -1]]))


@pytest.mark.parametrize(
    "grid, scale", [((4, 4), 2), ((4, 4), 3), ((3, 5), 2), ((5, 3), 3), ((6, 4), 1), ((2, 2), 2)]
)
def test_windows_covering_matches_membership(grid, scale):
    windows = window_indices(grid, scale)
    n = grid[0] * grid[1]
    cover = wm.windows_covering(windows, n)
    for patch in range(n):
        owners = [w for w in range(windows.shape[0]) if patch in windows[w].tolist()]
        row = cover[patch].tolist()
        assert row[: len(owners)] == owners
        assert all(v == -1 for v in row[len(owners) :])


# --- harmonic_aggregation ----------------------------------------------------------------


def test_harmonic_aggregation_two_windows():
    got = wm.harmonic_aggregation(torch.tensor([[0.5, 0.25]]), torch.tensor([[0, 1]]))
    assert got.shape == (1, 1)
    assert got.item() == pytest.approx(1 / 3, abs=1e-7)


def test_harmonic_aggregation_3x3_hand_values():
    cover = wm.windows_covering(window_indices((3, 3), 2), 9)
    scores = torch.tensor([[0.5, 0.25, 1.0, 0.2]])
    expected = torch.tensor([[0.5, 1 / 3, 0.25, 2 / 3, 1 / 3, 2 / 9, 1.0, 1 / 3, 0.2]])
    assert torch.allclose(wm.harmonic_aggregation(scores, cover), expected, atol=1e-7)


def test_harmonic_aggregation_zero_score_gives_zero_not_nan():
    cover = wm.windows_covering(window_indices((3, 3), 2), 9)
    scores = torch.tensor([[0.5, 0.0, 1.0, 0.2]])  # window 1 covers patches 1, 2, 4, 5
    got = wm.harmonic_aggregation(scores, cover)
    assert not torch.isnan(got).any()
    expected = torch.tensor([[0.5, 0.0, 0.0, 2 / 3, 0.0, 0.0, 1.0, 1 / 3, 0.2]])
    assert torch.allclose(got, expected, atol=1e-7)


def test_harmonic_aggregation_uncovered_patch_is_zero():
    cover = torch.tensor([[0, -1], [-1, -1], [0, 1]])
    got = wm.harmonic_aggregation(torch.tensor([[0.4, 0.6], [0.0, 0.0]]), cover)
    expected = torch.tensor([[0.4, 0.0, 2 / (1 / 0.4 + 1 / 0.6)], [0.0, 0.0, 0.0]])
    assert torch.allclose(got, expected, atol=1e-7)


@pytest.mark.parametrize(
    "grid, scale",
    [((4, 4), 2), ((4, 4), 3), ((3, 5), 2), ((5, 3), 3), ((6, 4), 1), ((7, 6), 4), ((2, 2), 2)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_harmonic_aggregation_matches_loop(grid, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    windows = window_indices(grid, scale)
    scores = torch.rand(3, windows.shape[0], generator=generator, dtype=torch.float64) * 0.95
    scores += 0.05
    scores[2, 0] = 0.0  # one zero window in the last image
    cover = wm.windows_covering(windows, grid[0] * grid[1])
    got = wm.harmonic_aggregation(scores, cover)
    expected = slow_harmonic_aggregation(scores, grid, scale)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-12)


# --- harmonic_mean -----------------------------------------------------------------------


def test_harmonic_mean_hand_values():
    stack = torch.tensor([[1.0, 0.5, 0.0], [0.25, 0.5, 0.7]])
    assert torch.allclose(wm.harmonic_mean(stack), torch.tensor([0.4, 0.5, 0.0]), atol=1e-7)
    three = torch.tensor([[1.0], [0.5], [0.25]])
    assert wm.harmonic_mean(three).item() == pytest.approx(3 / 7, abs=1e-7)


def test_harmonic_mean_all_zero_is_zero():
    got = wm.harmonic_mean(torch.zeros(2, 3, 4))
    assert got.shape == (3, 4)
    assert torch.equal(got, torch.zeros(3, 4))


# --- visual_association_score ------------------------------------------------------------


def test_visual_association_identical_opposite_orthogonal():
    embeddings = torch.tensor([[[1.0, 2.0], [3.0, -1.0], [0.0, 5.0]]])  # (1, 3, 2)
    identical = wm.visual_association_score(embeddings[:, :1], torch.tensor([[2.0, 4.0]]))
    assert identical.shape == (1, 1)
    assert identical.item() == pytest.approx(0.0, abs=1e-7)
    opposite = wm.visual_association_score(embeddings[:, 1:2], torch.tensor([[-3.0, 1.0]]))
    assert opposite.item() == pytest.approx(1.0, abs=1e-7)
    orthogonal = wm.visual_association_score(embeddings[:, 2:], torch.tensor([[7.0, 0.0]]))
    assert orthogonal.item() == pytest.approx(0.5, abs=1e-7)


def test_visual_association_takes_nearest_reference_over_all_leading_dims():
    embeddings = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [1.0, 1.0]]])  # (2, 2, 2)
    references = torch.tensor([[[1.0, 0.0]], [[-1.0, 0.0]]])  # (2, 1, 2): K=2 references
    got = wm.visual_association_score(embeddings, references)
    cos45 = 1 / math.sqrt(2)
    expected = torch.tensor([[0.0, 0.5], [0.0, (1 - cos45) / 2]])
    assert got.shape == (2, 2)
    assert torch.allclose(got, expected, atol=1e-6)


# --- upsample ----------------------------------------------------------------------------


def test_upsample_non_square_shape_and_orientation():
    # values grow along the columns only: the output must grow along the width only
    patch_map = torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]]).expand(2, 2, 3)
    got = wm.upsample(patch_map, (5, 11))
    assert got.shape == (2, 5, 11)
    assert torch.allclose(got[:, 0], got[:, 4])
    assert (got[0, 2, 1:] >= got[0, 2, :-1]).all()
    assert got[0, 2, 0].item() == pytest.approx(0.0)
    assert got[0, 2, -1].item() == pytest.approx(1.0)


def test_upsample_identity_and_constant():
    patch_map = torch.rand(1, 3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(wm.upsample(patch_map, (3, 4)), patch_map)
    constant = wm.upsample(torch.full((1, 4, 4), 0.3), (40, 50))
    assert constant.shape == (1, 40, 50)
    assert torch.allclose(constant, torch.full((1, 40, 50), 0.3))
