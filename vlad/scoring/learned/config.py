"""Settings of the learned-prompt (AnomalyCLIP) model.

The defaults follow the authors' current code (github.com/zqhang/AnomalyCLIP after its
April 2025 fix) and the updated paper: 12 learnable context tokens per prompt, learnable
text tokens in the first 9 text layers, DPAM in the top vision blocks, anomaly maps from the
last vision layer only, Gaussian smoothing with sigma 4 at 518 pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from vlad.errors import ConfigError

FeatureMode = Literal["independent", "aliased"]
FEATURE_MODES: tuple[str, ...] = ("independent", "aliased")


@dataclass(frozen=True)
class LearnedPromptsConfig:
    """Shape and inference settings of an AnomalyCLIP prompt learner.

    Attributes:
        n_ctx: Learnable context tokens in front of each prompt's words.
        text_depth: Text layers that see learnable tokens: layer 1 through the prompt
            embeddings, layers 2..text_depth through tokens replaced at their input
            (``text_depth - 1`` sets of deep tokens; 1 = none).
        text_ctx: Deep tokens per text layer (they overwrite positions 1..text_ctx).
        dpam_layer: DPAM setting as the authors count it: the top ``dpam_layer - 1`` vision
            blocks get the value-value attention path (20 on a 24-block ViT-L: blocks 6-24);
            1 turns DPAM off.
        feature_layers: Vision blocks (1-based) whose patch tokens make anomaly maps; their
            maps are summed.
        sigma: Gaussian smoothing of the summed map, in pixels (0 = none).
        image_size: Square input side in pixels the prompts are trained and used at.
        feature_mode: ``independent`` takes each listed block's own tokens;
            ``aliased`` reproduces the authors' code before April 2025, where every listed
            block from the one before DPAM onwards returned the last block's tokens.
        normal_words: Words after the context tokens of the normal prompt.
        anomalous_words: Words after the context tokens of the anomalous prompt.
    """

    n_ctx: int = field(default=12, metadata={"help": "learnable context tokens per prompt"})
    text_depth: int = field(default=9, metadata={"help": "text layers with learnable tokens"})
    text_ctx: int = field(default=4, metadata={"help": "learnable tokens per deep text layer"})
    dpam_layer: int = field(
        default=20, metadata={"help": "DPAM in the top dpam_layer-1 vision blocks (1: off)"}
    )
    feature_layers: tuple[int, ...] = field(
        default=(24,), metadata={"help": "vision blocks (1-based) whose maps are summed"}
    )
    sigma: float = field(default=4.0, metadata={"help": "Gaussian smoothing of the map (px)"})
    image_size: int = field(default=518, metadata={"help": "input side in pixels"})
    feature_mode: FeatureMode = field(
        default="independent",
        metadata={"help": "independent, or aliased (the authors' code before April 2025)"},
    )
    normal_words: str = field(default="object", metadata={"help": "words of the normal prompt"})
    anomalous_words: str = field(
        default="damaged object", metadata={"help": "words of the anomalous prompt"}
    )

    def __post_init__(self) -> None:
        for name in ("n_ctx", "text_depth", "text_ctx", "dpam_layer", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}.", param=name)
        layers = tuple(self.feature_layers)
        if not layers or any(isinstance(v, bool) or not isinstance(v, int) for v in layers):
            raise ConfigError(
                f"feature_layers must list vision blocks as whole numbers, got {layers!r}.",
                param="feature_layers",
            )
        if min(layers) < 1 or len(set(layers)) != len(layers):
            raise ConfigError(
                f"feature_layers must be distinct blocks counted from 1, got {layers!r}.",
                param="feature_layers",
            )
        object.__setattr__(self, "feature_layers", layers)
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ConfigError(f"sigma must be a number >= 0, got {self.sigma!r}.", param="sigma")
        if self.feature_mode not in FEATURE_MODES:
            raise ConfigError(
                f"feature_mode must be independent or aliased, got {self.feature_mode!r}.",
                param="feature_mode",
            )
        for name in ("normal_words", "anomalous_words"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(
                    f"{name} is empty; give the words of the prompt, e.g. 'object'.", param=name
                )
