"""Exact values of the learned-prompt maths on hand-built tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from vlad.scoring.learned.math import (
    TEMPERATURE,
    gaussian_blur,
    gaussian_kernel,
    normalize,
    resize_positional,
    similarity_logits,
    similarity_probs,
    summed_anomaly_map,
    symmetric_indices,
    tokens_to_maps,
)


def test_normalize_scales_to_unit_length() -> None:
    out = normalize(torch.tensor([[3.0, 4.0], [0.0, -2.0]]))
    assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))


def test_similarity_logits_are_cosines_over_the_temperature() -> None:
    features = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    text = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    half = 1 / math.sqrt(2)
    expected = torch.tensor([[1.0, half], [0.0, half]]) / 0.07
    assert TEMPERATURE == 0.07
    assert torch.allclose(similarity_logits(features, text), expected)
    assert torch.allclose(similarity_logits(features, text, temperature=1.0), expected * 0.07)


def test_similarity_probs_softmax_over_the_two_texts() -> None:
    features = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (B=1, N=2, D=2)
    text = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    probs = similarity_probs(features, text)
    half = 1 / math.sqrt(2)
    first_anomalous = 1 / (1 + math.exp((1 - half) / 0.07))
    second_anomalous = 1 / (1 + math.exp((0 - half) / 0.07))
    assert probs.shape == (1, 2, 2)
    assert probs[0, 0, 1].item() == pytest.approx(first_anomalous, rel=1e-5)
    assert probs[0, 1, 1].item() == pytest.approx(second_anomalous, rel=1e-5)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 2))


def test_tokens_to_maps_lays_patches_row_major_and_upsamples_at_pixel_centres() -> None:
    # A 1x2 grid: channel 0 holds (0, 1), channel 1 holds (1, 0).
    probs = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # (B=1, P=2, C=2)
    same = tokens_to_maps(probs, (1, 2), (1, 2))
    assert same.tolist() == [[[[0.0, 1.0]], [[1.0, 0.0]]]]
    up = tokens_to_maps(probs, (1, 2), (1, 4))
    # Bilinear, align_corners=False: sources -0.25, 0.25, 0.75, 1.25 -> a, .75a+.25b, .25a+.75b, b
    assert torch.allclose(up[0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert torch.allclose(up[0, 1, 0], torch.tensor([1.0, 0.75, 0.25, 0.0]))


def test_tokens_to_maps_refuses_a_grid_the_patches_do_not_fill() -> None:
    with pytest.raises(ValueError, match="3 patch values do not fill a 2x2 grid"):
        tokens_to_maps(torch.zeros(1, 3, 2), (2, 2), (4, 4))


def test_gaussian_kernel_values() -> None:
    kernel = gaussian_kernel(1.0)
    weights = [math.exp(-0.5 * k * k) for k in range(-4, 5)]
    assert kernel.shape == (9,)
    assert torch.allclose(kernel, torch.tensor(weights, dtype=torch.float64) / sum(weights))
    assert gaussian_kernel(4.0).shape == (33,)  # radius int(4 * 4 + 0.5) = 16, as scipy


@pytest.mark.parametrize(("length", "radius"), [(3, 2), (2, 3), (5, 0), (1, 4), (4, 9)])
def test_symmetric_indices_match_numpy_symmetric_padding(length: int, radius: int) -> None:
    expected = np.pad(np.arange(length), radius, mode="symmetric")
    assert symmetric_indices(length, radius).tolist() == expected.tolist()


def test_symmetric_indices_hand_values() -> None:
    assert symmetric_indices(3, 2).tolist() == [1, 0, 0, 1, 2, 2, 1]


@pytest.mark.parametrize(
    ("shape", "sigma"), [((2, 40, 40), 4.0), ((1, 10, 7), 4.0), ((1, 9, 12), 1.5)]
)
def test_gaussian_blur_matches_scipy_gaussian_filter(shape: tuple[int, ...], sigma: float) -> None:
    maps = torch.from_numpy(np.random.default_rng(0).random(shape))
    ours = gaussian_blur(maps, sigma)
    for index in range(shape[0]):
        expected = gaussian_filter(maps[index].numpy(), sigma=sigma)
        assert np.allclose(ours[index].numpy(), expected, atol=1e-12)


def test_gaussian_blur_of_an_impulse_is_the_kernel_outer_product() -> None:
    maps = torch.zeros(1, 21, 21, dtype=torch.float64)
    maps[0, 10, 10] = 1.0
    kernel = gaussian_kernel(2.0)  # radius 8: fits inside the map
    out = gaussian_blur(maps, 2.0)
    expected = torch.zeros(21, 21, dtype=torch.float64)
    expected[2:19, 2:19] = torch.outer(kernel, kernel)
    assert torch.allclose(out[0], expected)


def test_gaussian_blur_keeps_constants_and_sigma_zero_is_identity() -> None:
    flat = torch.full((1, 6, 5), 0.25)
    assert torch.allclose(gaussian_blur(flat, 4.0), flat)
    maps = torch.rand(2, 5, 5)
    assert gaussian_blur(maps, 0.0) is maps


def test_resize_positional_keeps_the_class_row_and_interpolates_the_grid() -> None:
    positional = torch.tensor([[9.0], [0.0], [1.0], [2.0], [3.0]])  # class + 2x2 grid
    assert resize_positional(positional, (2, 2)) is positional
    out = resize_positional(positional, (4, 4))
    assert out.shape == (17, 1)
    assert out[0, 0] == 9.0
    grid = out[1:, 0].reshape(4, 4)
    # Rows and columns both follow a, .75a+.25b, .25a+.75b, b.
    weights = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    expected = weights @ torch.tensor([[0.0, 1.0], [2.0, 3.0]]) @ weights.T
    assert torch.allclose(grid, expected)
    assert resize_positional(positional, (2, 4))[1:].shape == (8, 1)


def test_resize_positional_refuses_a_non_square_table() -> None:
    with pytest.raises(ValueError, match="3 positional rows do not form a square grid"):
        resize_positional(torch.zeros(4, 2), (2, 2))


def test_summed_anomaly_map_sums_the_anomalous_channel_then_smooths() -> None:
    first = torch.zeros(1, 2, 3, 3)
    first[0, 1] = torch.arange(9.0).reshape(3, 3)
    second = torch.ones(1, 2, 3, 3)
    total = summed_anomaly_map([first, second], sigma=0.0)
    assert torch.equal(total[0], torch.arange(9.0).reshape(3, 3) + 1)
    smooth = summed_anomaly_map([first, second], sigma=1.0)
    assert torch.allclose(smooth, gaussian_blur(total, 1.0))
    with pytest.raises(ValueError, match="At least one layer map is needed"):
        summed_anomaly_map([], sigma=1.0)
