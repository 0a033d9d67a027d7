"""The losses AnomalyCLIP trains its prompts with: focal and dice on the maps, CE on the image.

Pure tensor functions, apart from the model and the training loop:

- :func:`focal_loss`: focal loss (Lin et al., 2017) on per-pixel class *probabilities*
  ``[B, C, H, W]`` (the maps are softmax outputs already), with the target's one-hot
  vector clamped to ``[eps / (C - 1), 1 - eps]`` and ``eps`` added to ``p_t`` before the log,
  as the authors' training does.
- :func:`dice_loss`: ``1 - mean_b (2 |P∩T| + 1) / (|P| + |T| + 1)`` on one probability channel.
- :func:`map_loss`: per layer, focal on both channels plus dice of the anomalous channel
  against the mask and of the normal channel against its complement; summed over layers.
- :func:`anomaly_clip_loss`: ``map_weight * map_loss + cross_entropy(image_logits, labels)``
  (the authors weigh the map term by 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vlad.errors import InputError

#: Weight of the map losses against the image cross-entropy (the authors' ``lam``).
MAP_WEIGHT = 4.0
FOCAL_GAMMA = 2.0
FOCAL_EPS = 1e-5
DICE_SMOOTH = 1.0


def focal_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = FOCAL_GAMMA,
    eps: float = FOCAL_EPS,
) -> torch.Tensor:
    """Mean focal loss of per-pixel class probabilities against integer class targets.

    Args:
        probs: Probabilities ``[B, C, H, W]`` (summing to 1 over ``C``).
        target: Class indices ``[B, H, W]`` (0/1 masks for two classes), any numeric dtype.
        gamma: Focusing exponent (0: plain cross-entropy on probabilities).
        eps: Label smoothing of the one-hot target and floor of ``p_t`` before the log.

    Returns:
        A scalar tensor.

    Raises:
        InputError: The shapes do not match.
    """
    if probs.dim() != 4 or target.shape != (probs.shape[0], *probs.shape[2:]):
        raise InputError(
            f"focal_loss needs probs [B, C, H, W] and target [B, H, W], got "
            f"{tuple(probs.shape)} and {tuple(target.shape)}."
        )
    classes = probs.shape[1]
    flat = probs.float().permute(0, 2, 3, 1).reshape(-1, classes)
    index = target.reshape(-1).long()
    one_hot = F.one_hot(index, classes).to(flat.dtype)
    one_hot = one_hot.clamp(eps / max(classes - 1, 1), 1.0 - eps)
    p_t = (one_hot * flat).sum(dim=1) + eps
    return (-((1.0 - p_t) ** gamma) * p_t.log()).mean()


def dice_loss(
    probs: torch.Tensor, target: torch.Tensor, *, smooth: float = DICE_SMOOTH
) -> torch.Tensor:
    """Soft dice loss of one probability channel against a 0/1 mask, averaged over the batch.

    Args:
        probs: Probabilities ``[B, H, W]``.
        target: Masks ``[B, H, W]`` with values in [0, 1].
        smooth: Added to numerator and denominator (an empty mask and map give loss 0).

    Returns:
        A scalar tensor.

    Raises:
        InputError: The shapes differ.
    """
    if probs.shape != target.shape:
        raise InputError(
            f"dice_loss needs probs and target of one shape, got {tuple(probs.shape)} and "
            f"{tuple(target.shape)}."
        )
    batch = probs.shape[0]
    p = probs.float().reshape(batch, -1)
    t = target.float().reshape(batch, -1)
    score = (2.0 * (p * t).sum(dim=1) + smooth) / (p.sum(dim=1) + t.sum(dim=1) + smooth)
    return 1.0 - score.mean()


def map_loss(layer_maps: Sequence[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
    """Focal plus two-sided dice loss of every layer's map, summed over layers.

    Args:
        layer_maps: Per layer, ``[B, 2, H, W]`` softmax maps (channel 0 normal, 1 anomalous).
        masks: Ground truth ``[B, H, W]``, 1 for anomalous pixels (binarised at 0.5).

    Returns:
        A scalar tensor.

    Raises:
        InputError: No layer map, or a map whose size differs from the masks'.
    """
    if not layer_maps:
        raise InputError("map_loss needs at least one layer map.")
    gt = (masks.float() > 0.5).float()
    total = torch.zeros((), device=masks.device)
    for probs in layer_maps:
        if probs.dim() != 4 or probs.shape[1] != 2 or probs.shape[2:] != gt.shape[1:]:
            raise InputError(
                f"A layer map is {tuple(probs.shape)} but the masks are {tuple(gt.shape)}; "
                "maps must be [B, 2, H, W] at the mask size."
            )
        total = total + focal_loss(probs, gt)
        total = total + dice_loss(probs[:, 1], gt)
        total = total + dice_loss(probs[:, 0], 1.0 - gt)
    return total


@dataclass(frozen=True)
class LossParts:
    """One batch's loss and its two terms.

    Attributes:
        total: ``map_weight * maps + image``, the tensor to backpropagate.
        maps: The summed map loss (before the weight), detached.
        image: The image cross-entropy, detached.
    """

    total: torch.Tensor
    maps: torch.Tensor
    image: torch.Tensor


def anomaly_clip_loss(
    image_logits: torch.Tensor,
    layer_maps: Sequence[torch.Tensor],
    labels: torch.Tensor,
    masks: torch.Tensor,
    *,
    map_weight: float = MAP_WEIGHT,
) -> LossParts:
    """AnomalyCLIP's training loss of one batch.

    Args:
        image_logits: ``[B, 2]`` logits (normal, anomalous) of the global feature.
        layer_maps: Per layer, ``[B, 2, H, W]`` softmax maps.
        labels: ``[B]`` image labels, 0 normal, 1 anomalous.
        masks: ``[B, H, W]`` pixel masks.
        map_weight: Weight of the map term.

    Returns:
        The total and its two terms.
    """
    maps = map_loss(layer_maps, masks)
    image = F.cross_entropy(image_logits.float(), labels.long())
    return LossParts(total=map_weight * maps + image, maps=maps.detach(), image=image.detach())
