"""One small protocol for every language and vision-language model vlad talks to.

A batch of OpenAI-format chat conversations and a :class:`GenerationSettings` go in, a
batch of texts comes out. Backends (``vlad.reasoning.backends``) implement
:class:`ChatBackend`; :func:`vlad.reasoning.registry.load_backend` builds one from a
spec string. Reasoning code does not import torch: only the backends that need it do,
lazily.

A message is a dict in OpenAI's chat format::

    {"role": "user", "content": "Is anyone running?"}
    {"role": "user", "content": [
        {"type": "text", "text": "Describe this frame."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
    ]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, Any]
Conversation = list[Message]


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate: the same value object for every backend.

    Attributes:
        max_new_tokens: Most tokens to generate per answer.
        temperature: Sampling temperature; 0 means greedy decoding.
        top_p: Nucleus sampling mass (ignored when greedy).
        seed: Seed for sampling, so runs repeat.
        stop: Strings that end an answer (not included in it).
        json_schema: A JSON schema the answer must follow, where the backend can
            constrain its output (vLLM guided decoding, OpenAI ``response_format``);
            other backends add it to the prompt and rely on parsing.
    """

    max_new_tokens: int = field(default=256, metadata={"help": "most tokens per answer"})
    temperature: float = field(default=0.0, metadata={"help": "0 is greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    stop: tuple[str, ...] = field(default=(), metadata={"help": "strings that end an answer"})
    json_schema: dict[str, Any] | None = field(
        default=None, metadata={"help": "JSON schema to constrain the answer"}
    )

    def __post_init__(self) -> None:
        from vlad.errors import ConfigError

        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        if not self.temperature >= 0:
            raise ConfigError(f"Temperature must be 0 or more, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must lie in (0, 1], got {self.top_p}.")

    def cache_key(self) -> dict[str, Any]:
        """The settings as a plain dict, for cache keys."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
            "json_schema": self.json_schema,
        }


@runtime_checkable
class ChatBackend(Protocol):
    """What every backend offers: a name and batched chat."""

    @property
    def name(self) -> str:
        """Identifies the model (and its files) in caches and manifests."""
        ...

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer each conversation; one text per conversation, in order."""
        ...
