"""Zero-shot (WinCLIP) and few-shot (WinCLIP+) image anomaly scoring with a CLIP.

The text side (the prompt ensemble) is embedded once when the scorer is built; each image
batch then costs one CLIP forward pass plus the window passes, and the small tensor maths
of :mod:`vlad.scoring.winclip.math`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vlad.config import WinClipConfig
from vlad.encoders.clip import ClipEncoder, ImageFeatures, window_indices
from vlad.errors import ConfigError
from vlad.scoring.prompts import build_ensemble, load_prompt_set
from vlad.scoring.winclip import math as wm


@dataclass(frozen=True)
class BatchScores:
    """Scores of a batch at the model's input size.

    Attributes:
        image: (B,) image anomaly scores.
        patch_map: (B, rows, cols) patch-level scores.
    """

    image: torch.Tensor
    patch_map: torch.Tensor

    def pixel_map(self, size: tuple[int, int]) -> torch.Tensor:
        """Bilinear upsampling of the patch map to ``size`` = (height, width)."""
        return wm.upsample(self.patch_map, size)

    def pixel_map_of(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """The map of one image upsampled to ``size`` = (height, width), float32 on the CPU."""
        pixel_map = wm.upsample(self.patch_map[index : index + 1], size)[0]
        return pixel_map.float().cpu().numpy()

    def per_image(self, images: Sequence[Image.Image]) -> list[tuple[float, np.ndarray]]:
        """One ``(score, map)`` per image of the batch, each map at its image's own size."""
        results = []
        for index, image in enumerate(images):
            width, height = image.size  # PIL is (W, H); maps are (H, W)
            results.append((float(self.image[index]), self.pixel_map_of(index, (height, width))))
        return results


def zero_shot_scores(
    features: ImageFeatures,
    text_embeddings: torch.Tensor,
    temperature: float,
    covers: dict[int, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """WinCLIP zero-shot image scores and flat patch maps for any (normal, anomalous) pair.

    Args:
        features: Encoded images with their window embeddings.
        text_embeddings: (2, D): the normal, then the anomalous text embedding.
        temperature: Softmax temperature.
        covers: Per window scale, the windows covering each patch.

    Returns:
        ``(image_scores (B,), patch_map (B, rows * cols))``: the harmonic mean over the full
        image and every window scale of window scores aggregated onto patches.
    """
    rows, cols = features.grid_size
    image_scores = wm.class_scores(features.image, text_embeddings, temperature)
    batch = image_scores.shape[0]
    per_scale = [image_scores.view(batch, 1).expand(batch, rows * cols)]
    for scale, windows in features.windows.items():
        window_scores = wm.class_scores(windows, text_embeddings, temperature)
        per_scale.append(wm.harmonic_aggregation(window_scores, covers[scale]))
    return image_scores, wm.harmonic_mean(torch.stack(per_scale))


class WinClipScorer:
    """WinCLIP zero-shot scorer, WinCLIP+ when normal reference images are added.

    Args:
        encoder: A loaded CLIP with a ViT vision tower.
        config: Class name, prompts, user definitions, scales, temperature, threshold.
    """

    def __init__(self, encoder: ClipEncoder, config: WinClipConfig | None = None) -> None:
        self.encoder = encoder
        self.config = config or WinClipConfig()
        if encoder.grid_size is None:
            raise ConfigError(f"CLIP '{encoder.name}' has no patch grid; WinCLIP needs a ViT CLIP.")
        rows, cols = encoder.grid_size
        for scale in self.config.scales:
            if scale > min(rows, cols):
                raise ConfigError(
                    f"Window scale {scale} is larger than the {rows}x{cols} patch "
                    f"grid of '{encoder.name}'; use scales of at most {min(rows, cols)}.",
                    param="scales",
                )
        prompt_set = load_prompt_set(self.config.prompts)
        self.normal_prompts, self.anomalous_prompts = build_ensemble(
            prompt_set,
            self.config.class_name,
            definitions=self.config.definitions,
            normal=self.config.normal,
            replace_states=self.config.replace_states,
        )
        self._covers = {
            s: wm.windows_covering(window_indices((rows, cols), s), rows * cols).to(encoder.device)
            for s in self.config.scales
        }
        self._text_embeddings: torch.Tensor | None = None
        self._reference_patches: torch.Tensor | None = None
        self._reference_windows: dict[int, torch.Tensor] = {}

    @property
    def threshold(self) -> float:
        """Score at or above which an image is called anomalous."""
        return self.config.threshold

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Resize and normalise RGB images for :meth:`encode` (the CLIP's own input size)."""
        return self.encoder.preprocess(images)

    @property
    def text_embeddings(self) -> torch.Tensor:
        """(2, D): mean embedding of the normal prompts, then of the anomalous prompts."""
        if self._text_embeddings is None:
            normal = self.encoder.encode_text(self.normal_prompts).mean(dim=0)
            anomalous = self.encoder.encode_text(self.anomalous_prompts).mean(dim=0)
            self._text_embeddings = torch.stack([normal, anomalous])
        return self._text_embeddings

    @property
    def k_shot(self) -> int:
        """Number of normal reference images added (0 in zero-shot mode)."""
        if self._reference_patches is None:
            return 0
        return int(self._reference_patches.shape[0])

    def add_references(self, images: Sequence[Image.Image]) -> None:
        """Add normal reference images: the scorer becomes few-shot (WinCLIP+).

        Args:
            images: RGB images of normal objects of the same class.
        """
        if not images:
            return
        features = self.encode(self.encoder.preprocess(images))
        patches = features.patches
        windows = features.windows
        if self._reference_patches is not None:
            patches = torch.cat([self._reference_patches, patches])
            windows = {s: torch.cat([self._reference_windows[s], w]) for s, w in windows.items()}
        self._reference_patches = patches
        self._reference_windows = windows

    def encode(self, pixels: torch.Tensor) -> ImageFeatures:
        """Encode a preprocessed batch with the windows this scorer needs."""
        return self.encoder.encode_images(pixels, window_scales=self.config.scales)

    @torch.inference_mode()
    def score_features(self, features: ImageFeatures) -> BatchScores:
        """Image scores and patch maps from encoded features.

        Zero-shot: the image score is the anomalous-class probability of the global
        embedding; the patch map is the harmonic mean, over the full image and each window
        scale, of window scores aggregated harmonically onto the patches they cover.
        Few-shot adds the visual association score against the references, averaged with the
        zero-shot map, and its maximum averaged with the image score.
        """
        rows, cols = features.grid_size
        batch = features.image.shape[0]
        image_scores, patch_map = zero_shot_scores(
            features, self.text_embeddings, self.config.temperature, self._covers
        )
        if self._reference_patches is not None:
            few_shot = [wm.visual_association_score(features.patches, self._reference_patches)]
            for scale, windows in features.windows.items():
                association = wm.visual_association_score(windows, self._reference_windows[scale])
                few_shot.append(wm.harmonic_aggregation(association, self._covers[scale]))
            few_shot_map = torch.stack(few_shot).mean(dim=0)
            patch_map = (patch_map + few_shot_map) / 2
            image_scores = (image_scores + few_shot_map.amax(dim=-1)) / 2
        return BatchScores(image=image_scores, patch_map=patch_map.view(batch, rows, cols))

    @property
    def window_covers(self) -> dict[int, torch.Tensor]:
        """Per window scale, the windows covering each patch (see ``windows_covering``)."""
        return self._covers

    def score_pixels(self, pixels: torch.Tensor) -> BatchScores:
        """Encode and score a preprocessed batch (B, 3, H, W)."""
        return self.score_features(self.encode(pixels))

    def score_images(self, images: Sequence[Image.Image]) -> list[tuple[float, np.ndarray]]:
        """Score RGB images; each map comes back at its image's own (height, width).

        Args:
            images: RGB PIL images (any sizes; each is resized to the model's input).

        Returns:
            One ``(score, map)`` per image, the map a float32 array (H, W).
        """
        if not images:
            return []
        return self.score_pixels(self.encoder.preprocess(images)).per_image(images)
