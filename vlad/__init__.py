"""vlad: explainable visual anomaly understanding.

Heavy parts (torch, open_clip) load only when used::

    from vlad import ClipConfig, WinClipConfig, load_clip, WinClipScorer
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ClipConfig": "vlad.config",
    "WinClipConfig": "vlad.config",
    "load_clip": "vlad.encoders.clip",
    "ClipEncoder": "vlad.encoders.clip",
    "WinClipScorer": "vlad.scoring.winclip.scorer",
    "VideoConfig": "vlad.config",
    "VideoDetector": "vlad.pipeline.video",
    "ImageDetector": "vlad.pipeline.image",
    "load_image": "vlad.media.image",
    "open_video": "vlad.media.video",
    "ImageScore": "vlad.types",
    "VladError": "vlad.errors",
    "Analyzer": "vlad.pipeline.analyzer",
    "Explanation": "vlad.answer.explanation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import public names on first use so that ``import vlad`` stays fast."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vlad' has no attribute {name!r}")
