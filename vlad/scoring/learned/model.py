"""AnomalyCLIP: object-agnostic learned prompts on a frozen open_clip CLIP.

One forward pass per image: the vision tower (with DPAM in its top blocks) gives a global
feature and patch tokens of the listed layers; the two learnt prompts give a normal and an
anomalous text embedding. The image score is the softmax over the two of the tempered cosine
similarity to the global feature; each layer's patch tokens give a two-channel probability map,
upsampled bilinearly to the image; the anomalous channels are summed over layers and smoothed
by a Gaussian. Only the prompt parameters train; every CLIP parameter is frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vlad.errors import ModelLoadError
from vlad.scoring.learned.config import LearnedPromptsConfig
from vlad.scoring.learned.math import (
    similarity_logits,
    similarity_probs,
    summed_anomaly_map,
    tokens_to_maps,
)
from vlad.scoring.learned.prompt_learner import PARAMETER_NAMES, PromptLearner, encode_prompts
from vlad.scoring.learned.vision import dpam_start, encode_image, vision_tower


@dataclass
class AnomalyClipOutput:
    """What the model returns for a batch of B images of side S (H x W in general).

    Attributes:
        image_logits: (B, 2) tempered cosine similarity to (normal, anomalous), before the
            softmax (for a cross-entropy loss).
        image_scores: (B,) anomalous probability of each image.
        layer_maps: Per feature layer, (B, 2, H, W) softmax probabilities (normal,
            anomalous) upsampled to the image (for the map losses).
        maps: (B, H, W) anomalous probability summed over the layers and smoothed: the
            anomaly map used at inference (range 0 .. number of layers).
    """

    image_logits: torch.Tensor
    image_scores: torch.Tensor
    layer_maps: list[torch.Tensor]
    maps: torch.Tensor


class AnomalyClipModel(nn.Module):
    """Learned normal/anomalous prompts on a frozen open_clip ViT CLIP.

    Args:
        clip_model: An open_clip ``CLIP`` (e.g. ``ClipEncoder.model``); its parameters are
            frozen (``requires_grad`` set to False) and it is otherwise left untouched.
        tokenizer: The CLIP's open_clip tokenizer.
        config: Prompt shapes and inference settings.

    Raises:
        ModelLoadError: When the CLIP is not an open_clip ViT with a text transformer.
        ConfigError: When the settings do not fit this CLIP (layers, DPAM depth, context).
    """

    def __init__(self, clip_model: nn.Module, tokenizer: Any, config: LearnedPromptsConfig) -> None:
        super().__init__()
        visual = vision_tower(clip_model)
        dpam_start(config, len(visual.transformer.resblocks))
        for parameter in clip_model.parameters():
            parameter.requires_grad_(False)
        self.clip = clip_model
        self.config = config
        self.prompt_learner = PromptLearner(clip_model, tokenizer, config)
        device = next(clip_model.parameters()).device
        self.prompt_learner.to(device)

    def prompt_parameters(self) -> list[nn.Parameter]:
        """The trainable prompt parameters (context vectors and deep text tokens)."""
        return [getattr(self.prompt_learner, name) for name in PARAMETER_NAMES]

    def prompt_state(self) -> dict[str, torch.Tensor]:
        """A copy of the prompt parameters by name, on the CPU in float32 (what files hold)."""
        return {
            name: getattr(self.prompt_learner, name).detach().float().cpu().clone()
            for name in PARAMETER_NAMES
        }

    def load_prompt_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy saved prompt parameters into the model.

        Args:
            state: Name -> tensor for every name in :data:`PARAMETER_NAMES`.

        Raises:
            ModelLoadError: A tensor is missing or its shape differs from this model's
                (``param="learned_prompts"``).
        """
        for name in PARAMETER_NAMES:
            target = getattr(self.prompt_learner, name)
            value = state.get(name)
            if value is None or tuple(value.shape) != tuple(target.shape):
                got = "missing" if value is None else f"shaped {tuple(value.shape)}"
                raise ModelLoadError(
                    f"The learned prompts' {name} is {got} but this model needs "
                    f"{tuple(target.shape)}; use prompts trained with the same settings and CLIP.",
                    param="learned_prompts",
                )
        with torch.no_grad():
            for name in PARAMETER_NAMES:
                target = getattr(self.prompt_learner, name)
                target.copy_(state[name].to(device=target.device, dtype=target.dtype))

    def text_features(self) -> torch.Tensor:
        """Normalised (2, D) text embeddings of the normal and the anomalous prompt."""
        features = encode_prompts(self.clip, self.prompt_learner)
        return features / features.norm(dim=-1, keepdim=True)

    def forward(
        self, images: torch.Tensor, text_features: torch.Tensor | None = None
    ) -> AnomalyClipOutput:
        """Score a batch of normalised images.

        Args:
            images: (B, 3, H, W) pixels normalised with the CLIP's mean and std; H and W
                multiples of the patch size (the positional embedding is resized to fit).
            text_features: Precomputed :meth:`text_features` (inference with frozen
                prompts computes them once); None computes them here.

        Returns:
            The :class:`AnomalyClipOutput`, float32.
        """
        text = self.text_features() if text_features is None else text_features
        vision = encode_image(self.clip, images, self.config)
        size = (int(images.shape[-2]), int(images.shape[-1]))
        image_logits = similarity_logits(vision.image.float(), text)
        image_scores = image_logits.softmax(dim=-1)[:, 1]
        layer_maps = [
            tokens_to_maps(similarity_probs(tokens.float(), text), vision.grid, size)
            for tokens in vision.layer_tokens
        ]
        maps = summed_anomaly_map(layer_maps, self.config.sigma)
        return AnomalyClipOutput(
            image_logits=image_logits,
            image_scores=image_scores,
            layer_maps=layer_maps,
            maps=maps,
        )
