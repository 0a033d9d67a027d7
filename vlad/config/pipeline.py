"""Settings of :class:`vlad.pipeline.Pipeline`: which models, which scorers, how much output."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from vlad.config.clip import ClipConfig
from vlad.config.perception import PerceptionConfig
from vlad.config.video import VideoConfig
from vlad.config.winclip import WinClipConfig
from vlad.errors import ConfigError

_SECTIONS: dict[str, type] = {
    "clip": ClipConfig,
    "video": VideoConfig,
    "image": WinClipConfig,
    "perception": PerceptionConfig,
}

IMAGE_METHODS = ("winclip", "anomalyclip")
"""Image scorers: ``winclip`` (hand-written prompt ensemble, window passes, few-shot with
references) and ``anomalyclip`` (learned object-agnostic prompts, one CLIP forward)."""


@dataclass(frozen=True)
class PipelineConfig:
    """Everything :meth:`vlad.pipeline.Pipeline.from_config` needs to build a pipeline.

    Nested sections may be given as mappings (from YAML): ``PipelineConfig(video={"sample_fps":
    4})`` builds the :class:`~vlad.config.VideoConfig`; an unknown key is refused by name.

    Attributes:
        clip: Which CLIP to load.
        video: Video sampling, definitions, smoothing and thresholds.
        image: WinCLIP settings for images (its threshold marks an image anomalous, whichever
            the method).
        method: The image scorer, one of :data:`IMAGE_METHODS`; with ``anomalyclip`` the
            learned prompts also draw the peak-frame maps of videos.
        learned_prompts: Learned prompts for ``anomalyclip``: the folder ``vlad train
            prompts`` wrote, its ``prompts.safetensors``, or the authors' ``.pth``.
        image_size: AnomalyCLIP input side in pixels (None: the size the prompts were
            trained at).
        llm: Chat backend spec (``offline``, ``openai:URL#MODEL`` ...), or None for texts
            written from the evidence alone.
        embedder: Text embedder spec for memories not built with this CLIP (``minilm``),
            or None.
        neighbours: Memory neighbours kept per event.
        memory_k: Neighbours retrieved per frame for the memory score (Flashback: 10).
        max_keyframes: Most keyframes (with heat maps) per analysis.
        batch_size: Images per CLIP forward pass.
        max_pixels: Refuse images with more pixels than this (None: the default limit of
            about 179 million).
        answer_prompts: The answer prompts: a packaged prompt's name or a YAML file.
        perception: With a rule set and a vision-language model: which video frames it
            describes (:class:`~vlad.config.PerceptionConfig`; default: each interval's
            peak frame only).
    """

    clip: ClipConfig = field(default_factory=ClipConfig, metadata={"help": "which CLIP"})
    video: VideoConfig = field(
        default_factory=VideoConfig, metadata={"help": "video sampling and scoring"}
    )
    image: WinClipConfig = field(
        default_factory=WinClipConfig, metadata={"help": "WinCLIP image scoring"}
    )
    method: str = field(
        default="winclip", metadata={"help": "image scorer: winclip or anomalyclip"}
    )
    learned_prompts: str | None = field(
        default=None, metadata={"help": "learned prompts file or folder (method anomalyclip)"}
    )
    image_size: int | None = field(
        default=None, metadata={"help": "AnomalyCLIP input side in pixels (None: as trained)"}
    )
    llm: str | None = field(
        default="offline", metadata={"help": "chat backend spec that words the answer, or None"}
    )
    embedder: str | None = field(
        default=None, metadata={"help": "text embedder spec for memories of another embedder"}
    )
    neighbours: int = field(default=3, metadata={"help": "memory neighbours per event"})
    memory_k: int = field(default=10, metadata={"help": "neighbours per memory score"})
    max_keyframes: int = field(default=12, metadata={"help": "keyframes per analysis"})
    batch_size: int = field(default=8, metadata={"help": "images per forward pass"})
    max_pixels: int | None = field(
        default=None, metadata={"help": "largest image in pixels (None: about 179 million)"}
    )
    answer_prompts: str = field(
        default="answer", metadata={"help": "answer prompt name or YAML file"}
    )
    perception: PerceptionConfig = field(
        default_factory=PerceptionConfig,
        metadata={"help": "which video frames a vision-language model describes"},
    )

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if name == "perception" and isinstance(value, str):  # a mode name: "every"
                object.__setattr__(self, name, PerceptionConfig(mode=value))
            elif isinstance(value, dict):
                object.__setattr__(self, name, _section(cls, name, value))
            elif value is None:
                object.__setattr__(self, name, cls())
            elif not isinstance(value, cls):
                raise ConfigError(
                    f"{name} must be a {cls.__name__} or a mapping, got {type(value).__name__}.",
                    param=name,
                )
        for name in ("neighbours", "memory_k", "max_keyframes", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}.", param=name)
        check_method(self.method, self.learned_prompts, self.image_size)
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(
                f"max_pixels must be a positive number, got {self.max_pixels}.", param="max_pixels"
            )
        if not str(self.answer_prompts).strip():
            raise ConfigError(
                "answer_prompts is empty; name a prompt or a YAML file.", param="answer_prompts"
            )


def check_method(method: str, learned_prompts: object, image_size: int | None) -> None:
    """Refuse an unknown image method, or learned-prompt settings that do not fit it.

    Args:
        method: One of :data:`IMAGE_METHODS`.
        learned_prompts: The learned prompts (a path), or None.
        image_size: The AnomalyCLIP input side, or None.

    Raises:
        ConfigError: One sentence naming the parameter to change.
    """
    if method not in IMAGE_METHODS:
        raise ConfigError(
            f"Unknown method '{method}'; use one of {', '.join(IMAGE_METHODS)}.", param="method"
        )
    if method == "anomalyclip" and learned_prompts in (None, ""):
        raise ConfigError(
            "Method anomalyclip needs learned_prompts: the folder 'vlad train prompts' wrote, "
            "its prompts.safetensors, or the authors' .pth checkpoint.",
            param="learned_prompts",
        )
    if method != "anomalyclip" and learned_prompts not in (None, ""):
        raise ConfigError(
            "learned_prompts are used by method anomalyclip only; choose that method or "
            "leave learned_prompts out.",
            param="learned_prompts",
        )
    if image_size is not None:
        if method != "anomalyclip":
            raise ConfigError(
                "image_size sets the input size of method anomalyclip only; choose that "
                "method or leave image_size out.",
                param="image_size",
            )
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ConfigError(
                f"image_size must be a positive number of pixels, got {image_size}.",
                param="image_size",
            )


def _section(cls: type, name: str, data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} in {name}; known ones are "
            f"{', '.join(sorted(known))}.",
            param=name,
        )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
