"""Settings as dataclasses: checked when built, YAML or keywords in, plain dicts out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Self

import yaml

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
            raise ConfigError("The CLIP architecture is empty; pass one such as ViT-B-16-plus-240.")
        if self.precision not in _PRECISIONS:
            raise ConfigError(
                f"Unknown precision '{self.precision}'; use one of {', '.join(_PRECISIONS)}."
            )
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"Unknown device '{self.device}'; use auto, cpu, cuda or cuda:N.")
        if self.weights is not None and self.weights == LOCAL_DIR_PREFIX:
            raise ConfigError("'local-dir:' needs a folder after it, e.g. local-dir:./clip.")

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


@dataclass(frozen=True)
class WinClipConfig:
    """Settings of the WinCLIP zero-/few-shot scorer.

    Attributes:
        class_name: The object in the images ("bottle", "metal nut", "walkway scene").
        prompts: Name of a packaged prompt set or path of a YAML file.
        definitions: Phrases describing what counts as anomalous (``--define``).
        normal: Phrases describing what is normal (``--normal``).
        replace_states: Use only the user's phrases instead of adding them to the state words.
        scales: Window sizes in patches for the multi-scale windows (WinCLIP: 2 and 3).
        temperature: Softmax temperature over normal/anomalous text similarity (0.07).
        threshold: Score at or above which an image is called anomalous.
    """

    class_name: str = "object"
    prompts: str = "winclip"
    definitions: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    replace_states: bool = False
    scales: tuple[int, ...] = (2, 3)
    temperature: float = 0.07
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.class_name.strip():
            raise ConfigError("The class name is empty; pass what the images show, e.g. 'bottle'.")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"Temperature must be a positive number, got {self.temperature}.")
        if not 0.0 <= self.threshold <= 1.0:  # also refuses NaN
            raise ConfigError(f"Threshold must lie in [0, 1], got {self.threshold}.")
        if any(s < 1 for s in self.scales):
            raise ConfigError(f"Window scales must be positive patch counts, got {self.scales}.")
        if any(not d.strip() for d in (*self.definitions, *self.normal)):
            raise ConfigError("A --define or --normal phrase is empty; give it some words.")
        if self.replace_states and not self.definitions:
            raise ConfigError(
                "Replacing the state words needs at least one --define phrase to use instead."
            )


def to_dict(config: Any) -> dict[str, Any]:
    """Return a dataclass config as a plain dict (tuples become lists)."""
    data = asdict(config)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def from_mapping(cls: type[Self], data: dict[str, Any]) -> Self:
    """Build a config dataclass from a mapping, refusing unknown keys by name."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
            f"known ones are {', '.join(sorted(names))}."
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a file, with a one-sentence error when it is not one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file '{path}' does not exist; check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config file '{path}' is a folder; name a YAML file.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file '{path}' is not UTF-8 text; save it as YAML.") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" near line {line + 1}" if line is not None else ""
        raise ConfigError(f"Config file '{path}' is not valid YAML{where}; fix it.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of settings.")
    return data


@dataclass(frozen=True)
class VideoConfig:
    """Settings of text-defined zero-shot video scoring.

    Attributes:
        definitions: What counts as anomalous, in words; empty uses the scene prompts'
            default definitions.
        normal: What is normal, in words; empty uses the scene prompts' default set.
        scene_prompts: Packaged scene prompt set name or a YAML path.
        sample_fps: Frames per second to score (None scores every frame).
        segment_seconds: Length of the fixed segments reported.
        smoothing_sigma_s: Gaussian smoothing width in seconds (0: none).
        threshold: Score that opens an anomalous interval.
        low_threshold: Score that keeps an interval open (default: threshold - 0.1).
        merge_gap_s: Intervals closer than this merge into one.
        min_interval_s: Shorter intervals are dropped.
        temperature: Softmax temperature of the frame/definition comparison.
        batch_size: Frames per CLIP forward pass.
        frames_fps: Frame rate of a folder of frames (a folder is a video only with it).
        map_scales: WinCLIP window scales for the peak-frame maps.
    """

    definitions: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    scene_prompts: str = "video"
    sample_fps: float | None = 2.0
    segment_seconds: float = 2.0
    smoothing_sigma_s: float = 1.0
    threshold: float = 0.5
    low_threshold: float | None = None
    merge_gap_s: float = 0.5
    min_interval_s: float = 0.0
    temperature: float = 0.07
    batch_size: int = 16
    frames_fps: float | None = None
    map_scales: tuple[int, ...] = (2, 3)

    def __post_init__(self) -> None:
        if self.sample_fps is not None and not (
            math.isfinite(self.sample_fps) and self.sample_fps > 0
        ):
            raise ConfigError(
                f"--fps must be a positive number of frames per second, got {self.sample_fps}."
            )
        if not (math.isfinite(self.segment_seconds) and self.segment_seconds > 0):
            raise ConfigError(
                f"--segment-seconds must be a positive number, got {self.segment_seconds}."
            )
        if not (math.isfinite(self.smoothing_sigma_s) and self.smoothing_sigma_s >= 0):
            raise ConfigError(
                f"The smoothing sigma must be 0 or more seconds, got {self.smoothing_sigma_s}."
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"Threshold must lie in [0, 1], got {self.threshold}.")
        if self.low_threshold is not None and not 0.0 <= self.low_threshold <= self.threshold:
            raise ConfigError(
                f"The low threshold must lie in [0, threshold={self.threshold}], "
                f"got {self.low_threshold}."
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"Temperature must be a positive number, got {self.temperature}.")
        if self.batch_size < 1:
            raise ConfigError(f"Batch size must be at least 1, got {self.batch_size}.")
        if self.frames_fps is not None and not (
            math.isfinite(self.frames_fps) and self.frames_fps > 0
        ):
            raise ConfigError(f"--frames-fps must be a positive frame rate, got {self.frames_fps}.")
        if self.merge_gap_s < 0 or self.min_interval_s < 0:
            raise ConfigError("Merge gap and minimum interval length cannot be negative.")
        if any(not d.strip() for d in (*self.definitions, *self.normal)):
            raise ConfigError("A --define or --normal phrase is empty; give it some words.")

    @property
    def hysteresis_low(self) -> float:
        """The threshold that keeps an interval open."""
        if self.low_threshold is not None:
            return self.low_threshold
        return max(0.0, self.threshold - 0.1)
