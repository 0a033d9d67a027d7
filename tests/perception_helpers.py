"""Shared by the video rule-loop tests: scripted describers, a tiny random VLM, a scene video.

- :class:`ScriptedDescriber`: a chat backend that answers each frame with a fixed caption
  per frame number (read from the number drawn in the frame by ``tests/videos.py``).
- :func:`build_tiny_vlm`: a random tiny LLaVA saved as a transformers folder (used by the
  perception, transformers-backend and detect tests).
- :func:`event_video`: a static scene where a big patch is present from one frame to another
  (so CLIP embeddings change when the "event" starts and ends), numbered frames.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.videos import code_rows, draw_frame_number, frame_number, write_video
from vlad.reasoning.llm import Conversation, GenerationSettings
from vlad.reasoning.rules import Rule, RuleSet

NORMAL_CAPTION = "Two people are walking on the path."
EVENT_CAPTION = "A person is riding a bicycle. Two people are walking."
VOCABULARY = ["person", "people", "walking", "riding", "bicycle", "path", "bench", "sitting"]
RULES_YAML = (
    "scene: a walkway\n"
    "rules:\n"
    "  - {id: normal-human-activity-1, kind: normal, category: human activity, "
    "text: people walking on the path}\n"
    "  - {id: normal-human-activity-2, kind: normal, category: human activity, "
    "text: sitting on a bench}\n"
    "  - {id: anomaly-human-activity-1, kind: anomaly, category: human activity, "
    "text: a person riding a bicycle}\n"
)


def image_of(conversation: Conversation) -> np.ndarray:
    """The pixels of the image sent in a captioner's conversation."""
    image_part = conversation[-1]["content"][0]
    url = image_part["image_url"]["url"]
    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class ScriptedDescriber:
    """A VLM stand-in: the caption of each frame is ``script(frame number)``.

    Attributes:
        asked: Frame numbers described, in order.
        calls: ``chat()`` calls (batches).
    """

    name = "scripted-describer"

    def __init__(self, script: Callable[[int], str]) -> None:
        self.script = script
        self.asked: list[int] = []
        self.calls = 0

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        self.calls += 1
        numbers = [frame_number(image_of(c)) for c in conversations]
        self.asked.extend(numbers)
        return [self.script(n) for n in numbers]


def event_script(start: int, stop: int) -> Callable[[int], str]:
    """Captions: the event's caption for frames ``start`` to ``stop - 1``, else the normal one."""
    return lambda n: EVENT_CAPTION if start <= n < stop else NORMAL_CAPTION


def event_frames(
    n: int, start: int, stop: int, *, height: int = 48, width: int = 64, seed: int = 0
) -> list[np.ndarray]:
    """Numbered frames of a fixed textured scene; a big bright patch in ``[start, stop)``."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, (height // 8 + 2, width // 8 + 2, 3))
    background = np.kron(coarse, np.ones((8, 8, 1)))[:height, :width].astype(np.uint8)
    top = code_rows(height, width)
    frames = []
    for i in range(n):
        frame = background.copy()
        if start <= i < stop:
            frame[top + 4 : height - 4, width // 4 : 3 * width // 4] = (240, 30, 200)
        draw_frame_number(frame, i)
        frames.append(frame)
    return frames


def event_video(path: Path, n: int, start: int, stop: int, *, fps: float = 10) -> Path:
    """:func:`event_frames` written as an H.264 video."""
    return write_video(path, event_frames(n, start, stop), fps=fps)


class WordEmbedder:
    """Bag of words over :data:`VOCABULARY` (cosine = shared-word overlap)."""

    name = "words"
    dim = len(VOCABULARY) + 1

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word in VOCABULARY:
                    out[row, VOCABULARY.index(word)] = 1.0
            out[row, -1] = 0.1
            out[row] /= np.linalg.norm(out[row])
        return out


def walkway_rules() -> RuleSet:
    """The rules of :data:`RULES_YAML` as a rule set."""
    return RuleSet(
        (
            Rule(
                "people walking on the path", "normal", "human activity", "normal-human-activity-1"
            ),
            Rule("sitting on a bench", "normal", "human activity", "normal-human-activity-2"),
            Rule(
                "a person riding a bicycle", "anomaly", "human activity", "anomaly-human-activity-1"
            ),
        ),
        scene="a walkway",
    )


def build_tiny_vlm(folder: Path) -> Path:
    """A random tiny LLaVA (CLIP vision tower, 32x32 images) with its processor, saved."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from tests.reasoning.test_transformers_backend import (
        SPECIAL,
        VLM_TEMPLATE,
        llama_config,
        word_tokenizer,
    )

    tokenizer = word_tokenizer(None)
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=llama_config(tokenizer),
        image_token_id=SPECIAL.index("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=VLM_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    ).save_pretrained(folder)
    return folder
