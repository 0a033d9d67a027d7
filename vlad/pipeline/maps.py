"""The WinCLIP window map of one frame for one definition: where in the frame, written once."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from vlad.encoders.clip import ClipEncoder, window_indices
from vlad.scoring.text_defined import TextDefinedScorer
from vlad.scoring.winclip import math as wm
from vlad.scoring.winclip.scorer import zero_shot_scores


@torch.inference_mode()
def window_map(
    encoder: ClipEncoder,
    scorer: TextDefinedScorer,
    image: Image.Image,
    definition: str,
    *,
    scales: tuple[int, ...],
    temperature: float,
) -> np.ndarray | None:
    """WinCLIP window map of one frame for one definition, at the frame's size.

    Args:
        encoder: The CLIP (it needs a patch grid).
        scorer: Gives the definition's normal/anomalous text pair.
        image: The RGB frame.
        definition: The definition the map is for.
        scales: Window sizes in patches (those larger than the grid are skipped).
        temperature: Softmax temperature of the normal/anomalous pair.

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
    features = encoder.encode_images(encoder.preprocess([image]), window_scales=usable)
    pair = scorer.text_pair(definition).to(device)
    _, patch_map = zero_shot_scores(features, pair, temperature, covers)
    width, height = image.size  # PIL is (W, H)
    return wm.upsample(patch_map.view(1, *grid), (height, width))[0].float().cpu().numpy()
