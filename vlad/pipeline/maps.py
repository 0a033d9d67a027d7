"""The map of one frame for one definition: where in the frame, written once.

WinCLIP's window map by default; the learned prompts' map when a video is scored with
``method="anomalyclip"`` (object-agnostic: the same map whatever the definition).
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from vlad.encoders.clip import ClipEncoder, window_indices
from vlad.scoring.text_defined import TextDefinedScorer
from vlad.scoring.winclip import math as wm
from vlad.scoring.winclip.scorer import zero_shot_scores

if TYPE_CHECKING:
    from vlad.scoring.learned.scorer import AnomalyClipScorer


def frame_map(
    encoder: ClipEncoder,
    scorer: TextDefinedScorer,
    image: Image.Image,
    definition: str,
    *,
    scales: tuple[int, ...],
    temperature: float,
    learned: AnomalyClipScorer | None = None,
    cache: MutableMapping[Hashable, Any] | None = None,
    key: Hashable | None = None,
) -> np.ndarray | None:
    """The anomaly map of one frame at its own size: the learned prompts' or WinCLIP's.

    With ``cache`` and ``key`` (a name of the frame's pixels, e.g. its video and index), the
    frame's window embeddings (WinCLIP) or its map (learned prompts) are computed once and
    reused for the other definitions and calls on the same frame: the same values, one
    vision pass.

    Args:
        encoder: The CLIP.
        scorer: Gives the definition's text pair (WinCLIP).
        image: The RGB frame.
        definition: The definition the map is for (WinCLIP; the learned prompts' map is
            object-agnostic and does not depend on it).
        scales: WinCLIP window sizes in patches.
        temperature: WinCLIP softmax temperature.
        learned: AnomalyCLIP's scorer, when the pipeline's method is ``anomalyclip``.
        cache: Where the frame's vision pass is kept (None: nothing kept).
        key: The frame's name in ``cache`` (None: nothing kept).

    Returns:
        (H, W) float32 map, or None for a CLIP without a patch grid.
    """
    memo = cache if key is not None else None
    if learned is not None:
        if memo is not None and ("learned", key) in memo:
            return memo[("learned", key)]
        learned_map = learned.score_images([image])[0][1]
        if memo is not None:
            memo[("learned", key)] = learned_map
        return learned_map
    return window_map(
        encoder,
        scorer,
        image,
        definition,
        scales=scales,
        temperature=temperature,
        cache=memo,
        key=key,
    )


@torch.inference_mode()
def window_map(
    encoder: ClipEncoder,
    scorer: TextDefinedScorer,
    image: Image.Image,
    definition: str,
    *,
    scales: tuple[int, ...],
    temperature: float,
    cache: MutableMapping[Hashable, Any] | None = None,
    key: Hashable | None = None,
) -> np.ndarray | None:
    """WinCLIP window map of one frame for one definition, at the frame's size.

    Args:
        encoder: The CLIP (it needs a patch grid).
        scorer: Gives the definition's normal/anomalous text pair.
        image: The RGB frame.
        definition: The definition the map is for.
        scales: Window sizes in patches (those larger than the grid are skipped).
        temperature: Softmax temperature of the normal/anomalous pair.
        cache: Keeps the frame's window embeddings under ``key`` for the next definition.
        key: The frame's name in ``cache`` (None: nothing kept).

    Returns:
        (H, W) float32 map in [0, 1], or None for a CLIP without a patch grid.
    """
    grid = encoder.grid_size
    if grid is None:
        return None
    usable = tuple(s for s in scales if s <= min(grid))
    device = encoder.device
    covers = {
        s: wm.windows_covering(window_indices(grid, s), grid[0] * grid[1]).to(device)
        for s in usable
    }
    memo_key = ("windows", usable, key)
    features = cache.get(memo_key) if cache is not None and key is not None else None
    if features is None:
        features = encoder.encode_images(encoder.preprocess([image]), window_scales=usable)
        if cache is not None and key is not None:
            cache[memo_key] = features
    pair = scorer.text_pair(definition).to(device)
    _, patch_map = zero_shot_scores(features, pair, temperature, covers)
    width, height = image.size  # PIL is (W, H)
    return wm.upsample(patch_map.view(1, *grid), (height, width))[0].float().cpu().numpy()
