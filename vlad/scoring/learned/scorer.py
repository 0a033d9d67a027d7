"""Scoring images with learned prompts (AnomalyCLIP): one CLIP forward per image.

:class:`AnomalyClipScorer` wraps an :class:`~vlad.scoring.learned.model.AnomalyClipModel`
built on an already loaded :class:`~vlad.encoders.clip.ClipEncoder`, with the prompts of a
file that ``vlad train prompts`` wrote (or the authors' ``.pth``). It has the surface of the
WinCLIP scorer that the image stage uses (``preprocess``, ``encode``, ``score_features``,
``threshold``), so the pipeline's records carry its score and full-size map the same way.

Prompts trained together with LoRA adapters (``DIR/adapter/`` beside them) are used with
those adapters: they are loaded into a private copy of the CLIP, so the shared encoder (and
WinCLIP, the text definitions and the memory, which use it) stays as it is. A CLIP given as
``DIR/clip-merged.safetensors`` already holds them and gets none on top.

The prompts are frozen here, so their two text embeddings are computed once, when the scorer
is built; each image batch then costs the vision forward pass and the small map maths. The
map is the mean over the feature layers of the anomalous probability (the model sums them;
dividing by the number of layers keeps the map in [0, 1] like WinCLIP's).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vlad.encoders.clip import ClipEncoder
from vlad.errors import ConfigError
from vlad.scoring.learned.checkpoint import (
    LearnedPrompts,
    check_clip,
    load_prompts,
    model_from_prompts,
)
from vlad.scoring.learned.model import AnomalyClipOutput
from vlad.scoring.winclip.scorer import BatchScores

ADAPTER_DIR = "adapter"
"""Folder beside the prompt files holding LoRA adapters trained with them (peft's format)."""
MERGED_CLIP = "clip-merged.safetensors"
"""The CLIP with those adapters folded in, written beside them by ``--merge``."""


class AnomalyClipScorer:
    """Image anomaly scores and maps from learned object-agnostic prompts.

    Args:
        encoder: The loaded CLIP the prompts were trained for (shared with other scorers;
            it is only read).
        prompts: The learned prompts (:func:`~vlad.scoring.learned.checkpoint.load_prompts`).
        image_size: Input side in pixels (None: the size the prompts were trained at); a
            multiple of the CLIP's patch size.
        threshold: Score at or above which an image is called anomalous.
        source: Where the prompts came from (for messages and the demo).

    Raises:
        ModelLoadError: Prompts made for another CLIP (one sentence naming
            ``learned_prompts``).
        ConfigError: An image size that does not fit this CLIP (``image_size``).
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        prompts: LearnedPrompts,
        *,
        image_size: int | None = None,
        threshold: float = 0.5,
        source: str | Path | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:  # also refuses NaN
            raise ConfigError(f"threshold must lie in [0, 1], got {threshold}.", param="threshold")
        overrides = {}
        if image_size is not None:
            patch = _patch_size(encoder)
            if isinstance(image_size, bool) or image_size < patch or image_size % patch:
                lower = max(patch, image_size // patch * patch)
                raise ConfigError(
                    f"image_size {image_size} is not a multiple of the {patch}-pixel patches of "
                    f"CLIP '{encoder.name}'; use a multiple such as {lower} or {lower + patch}.",
                    param="image_size",
                )
            overrides["image_size"] = int(image_size)
        where = source if source is not None else prompts.path
        self.encoder = encoder
        self.prompts = prompts
        self.source_name = Path(where).name if where is not None else "learned prompts"
        self._threshold = float(threshold)
        check_clip(prompts, encoder.model, clip_name=encoder.name)  # before any copy
        self.adapter = adapter_folder(prompts, encoder)
        clip = encoder.model
        if self.adapter is not None:
            from vlad.scoring.learned.adapters import load_lora, read_lora_settings

            clip = copy.deepcopy(encoder.model)
            # DPAM reads the attention's in_proj weights directly, as in training: adapters on
            # the attention stay unmerged there; MLP-only adapters merge exactly (plain speed).
            merge = "attn" not in read_lora_settings(self.adapter).targets
            load_lora(clip, self.adapter, merge=merge)
        self.model = model_from_prompts(
            clip, encoder.tokenizer, prompts, clip_name=encoder.name, **overrides
        )
        with torch.inference_mode():
            self.text_features = self.model.text_features().float()

    @classmethod
    def load(
        cls,
        encoder: ClipEncoder,
        path: str | Path,
        *,
        image_size: int | None = None,
        threshold: float = 0.5,
    ) -> AnomalyClipScorer:
        """Read a prompts file or training folder and build the scorer on a loaded CLIP.

        Args:
            encoder: The loaded CLIP.
            path: The folder ``vlad train prompts`` wrote, its ``prompts.safetensors``
                (or ``prompts.json``), or the authors' ``.pth`` checkpoint.
            image_size: Input side in pixels (None: as trained).
            threshold: Score at or above which an image is anomalous.

        Returns:
            The scorer.

        Raises:
            VladError: A file that cannot be read, or prompts that do not fit this CLIP.
        """
        return cls(
            encoder,
            load_prompts(path),
            image_size=image_size,
            threshold=threshold,
            source=path,
        )

    @property
    def threshold(self) -> float:
        """Score at or above which an image is called anomalous."""
        return self._threshold

    @property
    def image_size(self) -> int:
        """Square input side in pixels."""
        return int(self.model.config.image_size)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Resize RGB images to the square input side (no crop) and normalise them.

        Args:
            images: RGB PIL images of any sizes.

        Returns:
            Float tensor (B, 3, S, S) on the CPU.
        """
        side = self.image_size
        arrays = [
            np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
            for image in images
        ]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        return (batch - self.encoder.mean) / self.encoder.std

    @torch.inference_mode()
    def encode(self, pixels: torch.Tensor) -> AnomalyClipOutput:
        """The model's forward pass on a preprocessed batch, with the cached text."""
        pixels = pixels.to(device=self.encoder.device, dtype=self.encoder.dtype)
        return self.model(pixels, text_features=self.text_features)

    @torch.inference_mode()
    def score_features(self, features: AnomalyClipOutput) -> BatchScores:
        """Image scores and (B, S, S) maps in [0, 1] from the model's output."""
        layers = max(len(self.model.config.feature_layers), 1)
        return BatchScores(image=features.image_scores.float(), patch_map=features.maps / layers)

    def score_pixels(self, pixels: torch.Tensor) -> BatchScores:
        """Encode and score a preprocessed batch (B, 3, S, S)."""
        return self.score_features(self.encode(pixels))

    def score_images(self, images: Sequence[Image.Image]) -> list[tuple[float, np.ndarray]]:
        """Score RGB images; each map comes back at its image's own (height, width).

        Args:
            images: RGB PIL images (any sizes).

        Returns:
            One ``(score, map)`` per image, the map a float32 array (H, W) in [0, 1].
        """
        if not images:
            return []
        return self.score_pixels(self.preprocess(images)).per_image(images)


def adapter_folder(prompts: LearnedPrompts, encoder: ClipEncoder) -> Path | None:
    """The LoRA adapters trained with the prompts, unless the CLIP already has them merged.

    Args:
        prompts: Loaded prompts (their ``path`` is a training folder or a file in one).
        encoder: The CLIP they are used with.

    Returns:
        ``DIR/adapter`` when it holds adapter files and the CLIP was not loaded from
        ``DIR/clip-merged.safetensors``; else None.
    """
    if prompts.path is None or prompts.source_format != "vlad":
        return None
    root = prompts.path if prompts.path.is_dir() else prompts.path.parent
    folder = root / ADAPTER_DIR
    if not (folder / "adapter_config.json").is_file():
        return None
    weights = encoder.name.partition(":")[2]
    merged = root / MERGED_CLIP
    if weights and merged.is_file() and Path(weights).expanduser().resolve() == merged.resolve():
        return None
    return folder


def _patch_size(encoder: ClipEncoder) -> int:
    """Side in pixels of the CLIP's patches (its input side over its grid side)."""
    grid = encoder.grid_size
    if grid is None or not grid[0]:
        return 1
    return max(1, encoder.image_size[0] // grid[0])
