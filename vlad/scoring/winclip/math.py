"""WinCLIP scoring maths as small pure functions on tensors.

Each function takes plain tensors and returns plain tensors, so it can be checked on
hand-built inputs with exact values. :mod:`vlad.scoring.winclip.scorer` wires them to a CLIP.

Source of the method: Jeong et al., "WinCLIP: Zero-/Few-Shot Anomaly Classification and
Segmentation", CVPR 2023 (temperature 0.07, window scales 2 and 3, harmonic aggregation,
visual association score (1 - cosine) / 2 for the few-shot WinCLIP+).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_similarity(embeddings: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every embedding with every reference.

    Args:
        embeddings: (..., N, D).
        references: (M, D).

    Returns:
        (..., N, M) similarities.
    """
    return F.normalize(embeddings, dim=-1) @ F.normalize(references, dim=-1).transpose(-1, -2)


def class_scores(
    embeddings: torch.Tensor, text_embeddings: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """Probability of the anomalous class: softmax over (normal, anomalous) similarities.

    Args:
        embeddings: (..., D) image or window embeddings.
        text_embeddings: (2, D): row 0 the normal, row 1 the anomalous text embedding.
        temperature: Softmax temperature.

    Returns:
        (...) anomalous-class probabilities in [0, 1].
    """
    logits = cosine_similarity(embeddings.unsqueeze(-2), text_embeddings).squeeze(-2)
    return (logits / temperature).softmax(dim=-1)[..., 1]


def windows_covering(window_patches: torch.Tensor, n_patches: int) -> torch.Tensor:
    """For each patch, the windows that contain it, padded with -1.

    Args:
        window_patches: (n_windows, k) patch indices of each window.
        n_patches: Number of patches in the grid.

    Returns:
        Long tensor (n_patches, max_cover) of window indices, -1 where a patch is covered by
        fewer windows than the most covered one.
    """
    n_windows = window_patches.shape[0]
    owners = torch.arange(n_windows).repeat_interleave(window_patches.shape[1])
    patches = window_patches.reshape(-1)
    order = torch.argsort(patches * n_windows + owners)
    patches, owners = patches[order], owners[order]
    counts = torch.bincount(patches, minlength=n_patches)
    width = int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(patches.numel()) - starts[patches]
    cover = torch.full((n_patches, max(width, 1)), -1, dtype=torch.long)
    cover[patches, slot] = owners
    return cover


def harmonic_aggregation(window_scores: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """Per-patch harmonic mean of the scores of the windows covering the patch.

    A patch covered by no window, or by a window with score 0, gets 0.

    Args:
        window_scores: (B, n_windows) scores.
        cover: (n_patches, max_cover) from :func:`windows_covering`.

    Returns:
        (B, n_patches) aggregated scores.
    """
    inverse = 1.0 / window_scores  # inf where a score is 0: the harmonic mean is then 0
    valid = cover >= 0
    gathered = inverse[:, cover.clamp(min=0)]  # (B, n_patches, max_cover)
    gathered = torch.where(valid, gathered, torch.zeros((), dtype=gathered.dtype))
    total = gathered.sum(dim=-1)
    count = valid.sum(dim=-1).to(window_scores.dtype)
    result = count / total
    return result.nan_to_num(nan=0.0, posinf=0.0)


def harmonic_mean(stack: torch.Tensor) -> torch.Tensor:
    """Harmonic mean over the first dimension (0 where any member is 0)."""
    return (stack.shape[0] / (1.0 / stack).sum(dim=0)).nan_to_num(nan=0.0, posinf=0.0)


def visual_association_score(
    embeddings: torch.Tensor, reference_embeddings: torch.Tensor
) -> torch.Tensor:
    """WinCLIP+ score: half the cosine distance to the nearest normal reference.

    Args:
        embeddings: (B, N, D) patch or window embeddings of the images being scored.
        reference_embeddings: (..., D) embeddings of the same kind from normal references.

    Returns:
        (B, N) scores in [0, 1].
    """
    references = reference_embeddings.reshape(-1, embeddings.shape[-1])
    return (1.0 - cosine_similarity(embeddings, references)).min(dim=-1).values / 2.0


def upsample(patch_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (B, rows, cols) maps to (B, height, width)."""
    return F.interpolate(patch_map.unsqueeze(1), size=size, mode="bilinear").squeeze(1)
