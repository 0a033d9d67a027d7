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
    "load_clip": "vlad.encoders",
    "ClipEncoder": "vlad.encoders",
    "WinClipScorer": "vlad.scoring.zero_shot",
    "VideoConfig": "vlad.config",
    "VideoDetector": "vlad.video_pipeline",
    "ImageDetector": "vlad.pipeline",
    "load_image": "vlad.media",
    "open_video": "vlad.video",
    "ImageScore": "vlad.types",
    "VladError": "vlad.errors",
    "Analyzer": "vlad.analyzer",
    "Explanation": "vlad.explanation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import public names on first use so that ``import vlad`` stays fast."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vlad' has no attribute {name!r}")
