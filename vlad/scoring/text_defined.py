"""Text-defined zero-shot scoring: "what counts as anomalous" given in words, no training.

Each definition and each normal description is placed in every scene template and
embedded by the CLIP text tower (normalised per sentence, averaged, normalised again).
A frame's score for a definition is the CLIP softmax, at a temperature, over its cosine
similarity to the normal embedding and to the definition's: the probability that the frame
shows the definition rather than normal activity. Definitions are scored independently,
so adding one never changes another's track.

Anchors: AnyAnomaly (user-defined text as the anomaly, no fine-tuning) and LaGoVAD
(anomaly definitions given at inference time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vlad.encoders.clip import ClipEncoder
from vlad.errors import ConfigError
from vlad.scoring.prompts import ScenePrompts, load_scene_prompts
from vlad.scoring.winclip import math as wm


class TextDefinedScorer:
    """Scores image embeddings against text definitions of anomalies.

    Args:
        encoder: The CLIP whose image embeddings are scored (its text tower embeds prompts).
        scene_prompts: Scene templates and default phrases (name, path or loaded set).
        normal: Normal descriptions; empty uses the scene prompts' defaults.
        temperature: Softmax temperature.
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        *,
        scene_prompts: str | ScenePrompts = "video",
        normal: Sequence[str] = (),
        temperature: float = 0.07,
    ) -> None:
        self.encoder = encoder
        self.prompts = (
            scene_prompts
            if isinstance(scene_prompts, ScenePrompts)
            else load_scene_prompts(scene_prompts)
        )
        self.normal = tuple(normal) or self.prompts.normal
        self.temperature = temperature
        self._normal_embedding: torch.Tensor | None = None

    def default_definitions(self) -> tuple[str, ...]:
        """The scene prompts' definitions, used when a user gives none."""
        if not self.prompts.definitions:
            raise ConfigError(
                f"Scene prompts '{self.prompts.name}' have no default definitions; "
                "give at least one definition.",
                param="definitions",
            )
        return self.prompts.definitions

    def embed_descriptions(self, descriptions: Sequence[str]) -> torch.Tensor:
        """One unit-norm embedding per description, averaged over the scene templates.

        Args:
            descriptions: Texts such as "a person riding a bicycle on the walkway".

        Returns:
            (len(descriptions), D) float32 unit vectors.
        """
        sentences = [s for d in descriptions for s in self.prompts.sentences(d)]
        embedded = F.normalize(self.encoder.encode_text(sentences), dim=-1)
        per = embedded.view(len(descriptions), len(self.prompts.templates), -1).mean(dim=1)
        return F.normalize(per, dim=-1)

    @property
    def normal_embedding(self) -> torch.Tensor:
        """(D,) unit vector: the mean over every normal description and template."""
        if self._normal_embedding is None:
            self._normal_embedding = F.normalize(
                self.embed_descriptions(self.normal).mean(dim=0), dim=-1
            )
        return self._normal_embedding

    def text_pair(self, definition: str) -> torch.Tensor:
        """(2, D): the normal embedding and the definition's, in the order scoring expects."""
        return torch.stack([self.normal_embedding, self.embed_descriptions([definition])[0]])

    @torch.inference_mode()
    def score(self, image_embeddings: torch.Tensor, definitions: Sequence[str]) -> np.ndarray:
        """Probability per frame and definition that the frame shows the definition.

        Args:
            image_embeddings: (N, D) global CLIP image embeddings.
            definitions: The anomaly definitions.

        Returns:
            (N, len(definitions)) float64 scores in [0, 1].
        """
        if not definitions:
            raise ConfigError(
                "There is no anomaly definition to score; give at least one.",
                param="definitions",
            )
        device = image_embeddings.device
        normal = self.normal_embedding.to(device)
        defined = self.embed_descriptions(definitions).to(device)
        columns = []
        for row in defined:
            pair = torch.stack([normal, row])
            columns.append(wm.class_scores(image_embeddings.float(), pair, self.temperature))
        return torch.stack(columns, dim=-1).double().cpu().numpy()
