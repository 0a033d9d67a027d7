"""Pure tensor maths of the learned-prompt model: similarity, maps, smoothing, resizing.

Nothing here knows about CLIP modules; every function takes and returns tensors, so each is
checked on hand-built values in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

TEMPERATURE = 0.07
"""Softmax temperature of the text-image similarity (the authors fix it at 0.07, i.e. CLIP's
initial logit scale, instead of reading the model's learnt scale)."""

GAUSSIAN_TRUNCATE = 4.0
"""The Gaussian kernel reaches ``round(truncate * sigma)`` pixels each side (as scipy's
``gaussian_filter``, which the authors use)."""


def normalize(features: torch.Tensor) -> torch.Tensor:
    """Scale vectors along the last axis to unit length.

    Args:
        features: (..., D) tensor.

    Returns:
        The tensor divided by its L2 norm along the last axis.
    """
    return features / features.norm(dim=-1, keepdim=True)


def similarity_logits(
    features: torch.Tensor, text: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """Cosine similarity of features to each text embedding, divided by the temperature.

    Args:
        features: (..., D) image or patch features (any length).
        text: (T, D) text embeddings (any length).
        temperature: Softmax temperature.

    Returns:
        (..., T) logits: cosine / temperature.
    """
    return normalize(features) @ normalize(text).transpose(0, 1) / temperature


def similarity_probs(
    features: torch.Tensor, text: torch.Tensor, temperature: float = TEMPERATURE
) -> torch.Tensor:
    """Softmax over the text embeddings of the tempered cosine similarity.

    Args:
        features: (..., D) features.
        text: (T, D) text embeddings.
        temperature: Softmax temperature.

    Returns:
        (..., T) probabilities summing to 1 along the last axis.
    """
    return similarity_logits(features, text, temperature).softmax(dim=-1)


def tokens_to_maps(
    probs: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Lay per-patch probabilities on the patch grid and resize them bilinearly to the image.

    Args:
        probs: (B, P, C) per-patch values, P = rows * cols in row-major order.
        grid: (rows, cols) of the patch grid.
        size: (height, width) of the output.

    Returns:
        (B, C, height, width), bilinear with ``align_corners=False`` (pixel centres).

    Raises:
        ValueError: When P does not equal rows * cols.
    """
    batch, patches, channels = probs.shape
    rows, cols = grid
    if patches != rows * cols:
        raise ValueError(f"{patches} patch values do not fill a {rows}x{cols} grid.")
    maps = probs.transpose(1, 2).reshape(batch, channels, rows, cols)
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def gaussian_kernel(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel of radius ``int(truncate * sigma + 0.5)``.

    Args:
        sigma: Standard deviation in pixels (> 0).
        truncate: Radius in standard deviations.

    Returns:
        Float64 tensor (2 * radius + 1,) summing to 1.
    """
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def symmetric_indices(length: int, radius: int) -> torch.Tensor:
    """Source indices of a 1-D signal padded by ``radius`` with half-sample symmetry.

    The padding mirrors the signal including its edge sample (``d c b a | a b c d | d c b a``),
    as scipy's ``mode="reflect"``; it repeats as often as needed when radius > length.

    Args:
        length: Signal length (>= 1).
        radius: Padding on each side.

    Returns:
        Long tensor (length + 2 * radius,) of indices into the signal.
    """
    positions = torch.arange(-radius, length + radius)
    period = 2 * length
    folded = torch.remainder(positions, period)
    return torch.where(folded < length, folded, period - 1 - folded)


def gaussian_blur(
    maps: torch.Tensor, sigma: float, truncate: float = GAUSSIAN_TRUNCATE
) -> torch.Tensor:
    """Separable Gaussian smoothing of (B, H, W) maps with symmetric edges.

    Matches ``scipy.ndimage.gaussian_filter(map, sigma)`` per map (mode reflect, truncate 4),
    computed in the maps' dtype and differentiable.

    Args:
        maps: (B, H, W) tensor.
        sigma: Standard deviation in pixels; 0 returns the maps unchanged.
        truncate: Kernel radius in standard deviations.

    Returns:
        (B, H, W) smoothed maps.
    """
    if sigma <= 0:
        return maps
    kernel = gaussian_kernel(sigma, truncate).to(device=maps.device, dtype=maps.dtype)
    radius = (kernel.numel() - 1) // 2
    _, height, width = maps.shape
    rows = symmetric_indices(height, radius).to(maps.device)
    cols = symmetric_indices(width, radius).to(maps.device)
    x = maps[:, rows, :].unsqueeze(1)  # (B, 1, H + 2r, W)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    x = x[:, :, :, cols]
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return x.squeeze(1)


def resize_positional(positional: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resize a ViT's positional embedding (class row + square patch grid) to another grid.

    The patch rows are laid on their square grid and resized bilinearly
    (``align_corners=False``, no antialiasing), as the authors do for other input sizes.

    Args:
        positional: (1 + n * n, W) embedding of an n x n grid.
        grid: (rows, cols) wanted.

    Returns:
        (1 + rows * cols, W); the input itself when the grid is unchanged.

    Raises:
        ValueError: When the patch rows do not form a square grid.
    """
    patches = positional.shape[0] - 1
    side = math.isqrt(patches)
    if side * side != patches:
        raise ValueError(f"{patches} positional rows do not form a square grid.")
    if (side, side) == tuple(grid):
        return positional
    width = positional.shape[1]
    table = positional[1:].reshape(1, side, side, width).permute(0, 3, 1, 2)
    table = F.interpolate(table, size=tuple(grid), mode="bilinear", align_corners=False)
    table = table.reshape(width, grid[0] * grid[1]).transpose(0, 1)
    return torch.cat([positional[:1], table], dim=0)


def summed_anomaly_map(layer_maps: Sequence[torch.Tensor], sigma: float) -> torch.Tensor:
    """Sum the anomalous channel of per-layer maps and smooth the sum.

    Args:
        layer_maps: Per layer (B, 2, H, W) probabilities (normal, anomalous).
        sigma: Gaussian sigma in pixels (0: no smoothing).

    Returns:
        (B, H, W) summed, smoothed anomalous probability (range 0..number of layers).

    Raises:
        ValueError: When no layer map is given.
    """
    if not layer_maps:
        raise ValueError("At least one layer map is needed.")
    total = torch.stack([m[:, 1] for m in layer_maps]).sum(dim=0)
    return gaussian_blur(total, sigma)
