"""Which CLIP to load and where to run it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlad.errors import ConfigError

DEFAULT_CLIP_ARCH = "ViT-B-16-plus-240"
DEFAULT_CLIP_WEIGHTS = "laion400m_e31"
LOCAL_DIR_PREFIX = "local-dir:"

_PRECISIONS = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ClipConfig:
    """Which CLIP to load and where to run it.

    Attributes:
        arch: open_clip architecture name, e.g. ``ViT-B-16-plus-240`` (ignored for
            ``local-dir:`` weights, whose folder holds its own config).
        weights: A pretrained tag of open_clip (fetched from the model hub), a local
            ``.safetensors``/``.pt``/``.pth``/``.bin`` file, a ``local-dir:FOLDER`` holding
            ``open_clip_config.json`` and its weights, or None for untrained weights (only
            for tests and speed measurements: the scores mean nothing).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
    """

    arch: str = field(default=DEFAULT_CLIP_ARCH, metadata={"help": "open_clip architecture"})
    weights: str | None = field(
        default=DEFAULT_CLIP_WEIGHTS,
        metadata={"help": "pretrained tag, weights file, or local-dir:FOLDER"},
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N"})
    precision: str = field(default="auto", metadata={"help": "auto, fp32, fp16 or bf16"})

    def __post_init__(self) -> None:
        if not self.arch and not (self.weights or "").startswith(LOCAL_DIR_PREFIX):
            raise ConfigError(
                "The CLIP architecture is empty; pass one such as ViT-B-16-plus-240.",
                param="arch",
            )
        if self.precision not in _PRECISIONS:
            raise ConfigError(
                f"Unknown precision '{self.precision}'; use one of {', '.join(_PRECISIONS)}."
            )
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            # No param=: the CLI keeps "Unknown device" as it is (users and tests match it).
            raise ConfigError(f"Unknown device '{self.device}'; use auto, cpu, cuda or cuda:N.")
        if self.weights is not None and self.weights == LOCAL_DIR_PREFIX:
            raise ConfigError(
                "'local-dir:' needs a folder after it, e.g. local-dir:./clip.",
                param="weights",
            )

    @property
    def weights_kind(self) -> str:
        """``"none"``, ``"local-dir"``, ``"file"`` or ``"tag"``."""
        if self.weights is None:
            return "none"
        if self.weights.startswith(LOCAL_DIR_PREFIX):
            return "local-dir"
        if looks_like_path(self.weights):
            return "file"
        return "tag"


def looks_like_path(text: str) -> bool:
    """Whether a weights string names a file rather than a pretrained tag."""
    suffixes = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
    return text.endswith(suffixes) or "/" in text or "\\" in text or Path(text).exists()
