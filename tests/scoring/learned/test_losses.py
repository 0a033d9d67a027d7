"""The training losses: focal and dice on the maps, cross-entropy on the image logits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vlad.errors import InputError
from vlad.scoring.learned.losses import (
    MAP_WEIGHT,
    anomaly_clip_loss,
    dice_loss,
    focal_loss,
    map_loss,
)


def _two_channel(anomalous: torch.Tensor) -> torch.Tensor:
    return torch.stack([1 - anomalous, anomalous], dim=1)


def test_focal_loss_matches_the_formula_pixel_by_pixel():
    probs = _two_channel(torch.tensor([[[0.9, 0.2], [0.6, 0.1]]]))
    target = torch.tensor([[[1, 0], [0, 1]]])
    eps = 1e-5
    expected = []
    for p1, t in zip([0.9, 0.2, 0.6, 0.1], [1, 0, 0, 1], strict=True):
        onehot = [eps, 1 - eps] if t == 1 else [1 - eps, eps]
        p_t = onehot[0] * (1 - p1) + onehot[1] * p1 + eps
        expected.append(-((1 - p_t) ** 2) * math.log(p_t))
    assert focal_loss(probs, target).item() == pytest.approx(sum(expected) / 4, rel=1e-5)


def test_focal_loss_without_focusing_is_the_negative_log_likelihood():
    torch.manual_seed(0)
    probs = torch.rand(2, 2, 5, 5).softmax(dim=1)
    target = (torch.rand(2, 5, 5) > 0.5).long()
    nll = F.nll_loss(probs.log(), target)
    plain = focal_loss(probs, target, gamma=0.0, eps=0.0)
    assert plain.item() == pytest.approx(nll.item(), rel=1e-5)


def test_focal_loss_is_near_zero_for_a_confident_right_map_and_large_for_a_wrong_one():
    mask = torch.zeros(1, 4, 4)
    mask[0, :2] = 1
    right = _two_channel(mask.clone())
    wrong = _two_channel(1 - mask)
    assert focal_loss(right, mask) < 1e-6
    assert focal_loss(wrong, mask) > 5


def test_dice_loss_is_zero_for_a_perfect_map_and_near_one_for_a_disjoint_one():
    mask = torch.zeros(2, 8, 8)
    mask[:, 2:5, 2:5] = 1
    assert dice_loss(mask, mask).item() == pytest.approx(0.0, abs=1e-6)
    disjoint = torch.zeros_like(mask)
    disjoint[:, 6:, 6:] = 1
    assert dice_loss(disjoint, mask).item() == pytest.approx(1 - 1 / (4 + 9 + 1), rel=1e-5)
    empty = torch.zeros(1, 3, 3)
    assert dice_loss(empty, empty).item() == 0.0


def test_map_loss_sums_focal_and_both_dice_terms_over_layers():
    torch.manual_seed(1)
    mask = (torch.rand(2, 6, 6) > 0.7).float()
    layers = [_two_channel(torch.rand(2, 6, 6)) for _ in range(3)]
    expected = sum(
        focal_loss(m, mask) + dice_loss(m[:, 1], mask) + dice_loss(m[:, 0], 1 - mask)
        for m in layers
    )
    assert map_loss(layers, mask).item() == pytest.approx(expected.item(), rel=1e-6)
    # soft masks (bilinear resizing) are binarised at 0.5
    assert map_loss(layers, mask * 0.8).item() == pytest.approx(expected.item(), rel=1e-6)


def test_total_loss_weights_the_maps_and_adds_the_image_cross_entropy():
    torch.manual_seed(2)
    logits = torch.randn(3, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 1])
    mask = (torch.rand(3, 4, 4) > 0.5).float()
    layers = [_two_channel(torch.rand(3, 4, 4))]
    parts = anomaly_clip_loss(logits, layers, labels, mask)
    ce = F.cross_entropy(logits, labels)
    assert parts.image.item() == pytest.approx(ce.item())
    assert parts.total.item() == pytest.approx(MAP_WEIGHT * parts.maps.item() + ce.item(), rel=1e-6)
    parts.total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_bad_shapes_are_one_sentence():
    with pytest.raises(InputError, match=r"focal_loss needs probs \[B, C, H, W\]"):
        focal_loss(torch.rand(2, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(InputError, match="dice_loss needs probs and target of one shape"):
        dice_loss(torch.rand(2, 4, 4), torch.zeros(2, 5, 4))
    with pytest.raises(InputError, match="at least one layer map"):
        map_loss([], torch.zeros(1, 4, 4))
    with pytest.raises(InputError, match=r"maps must be \[B, 2, H, W\] at the mask size"):
        map_loss([torch.rand(1, 2, 8, 8)], torch.zeros(1, 4, 4))
