"""vlad: explainable visual anomaly understanding.

One pipeline from any input to an explained answer::

    from vlad import Pipeline, PipelineConfig

    pipeline = Pipeline.from_config(PipelineConfig())
    for explanation in pipeline.analyze(["datasets/samples/plates/scratch.png"]):
        print(explanation.verdict, explanation.score)

Every public name is imported on first use (``import vlad`` loads no torch, no model and
no third-party library); type checkers see them all through the ``TYPE_CHECKING`` imports.
The version comes from the installed package's metadata, whose one source is
``pyproject.toml``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation
    from vlad.config import ClipConfig, PipelineConfig, VideoConfig, WinClipConfig
    from vlad.encoders.clip import ClipEncoder, load_clip
    from vlad.errors import VladError
    from vlad.media.image import load_image
    from vlad.media.video import open_video
    from vlad.pipeline import Pipeline
    from vlad.reasoning.rules import RuleSet
    from vlad.scoring.memory import MemoryIndex
    from vlad.scoring.winclip.scorer import WinClipScorer

__version__: str  # set on first use by __getattr__, from the package metadata

_LAZY = {
    "Pipeline": "vlad.pipeline",
    "PipelineConfig": "vlad.config",
    "ClipConfig": "vlad.config",
    "WinClipConfig": "vlad.config",
    "VideoConfig": "vlad.config",
    "Explanation": "vlad.answer.explanation",
    "load_image": "vlad.media.image",
    "open_video": "vlad.media.video",
    "load_clip": "vlad.encoders.clip",
    "ClipEncoder": "vlad.encoders.clip",
    "WinClipScorer": "vlad.scoring.winclip.scorer",
    "MemoryIndex": "vlad.scoring.memory",
    "RuleSet": "vlad.reasoning.rules",
    "VladError": "vlad.errors",
}

__all__ = [
    "ClipConfig",
    "ClipEncoder",
    "Explanation",
    "MemoryIndex",
    "Pipeline",
    "PipelineConfig",
    "RuleSet",
    "VideoConfig",
    "VladError",
    "WinClipConfig",
    "WinClipScorer",
    "__version__",
    "load_clip",
    "load_image",
    "open_video",
]

_DEPRECATED = {
    "Analyzer": ("vlad.pipeline.analyzer", "vlad.Pipeline"),
    "ImageDetector": ("vlad.pipeline.image", "vlad.Pipeline"),
    "VideoDetector": ("vlad.pipeline.video", "vlad.Pipeline"),
    "ImageScore": ("vlad.types", "vlad.Explanation"),
}
"""Names of vlad 0.1's façade kept for one release, with a warning naming the new one."""

DISTRIBUTION = "vlad"
"""The name vlad is installed under (``pip show vlad``)."""


def _version() -> str:
    """The installed version; read from ``pyproject.toml`` in a clone that is not installed."""
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        import tomllib

        with pyproject.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Import public names on first use so that ``import vlad`` stays fast."""
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value
        return value
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _DEPRECATED:
        import warnings

        module, instead = _DEPRECATED[name]
        with warnings.catch_warnings():  # one warning, naming the façade's name, not two
            warnings.simplefilter("ignore", DeprecationWarning)
            value = getattr(import_module(module), name, None)
        if value is not None:
            warnings.warn(
                f"vlad.{name} is deprecated and leaves the package in the next release; "
                f"use {instead}.",
                DeprecationWarning,
                stacklevel=2,
            )
            return value
    raise AttributeError(f"module 'vlad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
