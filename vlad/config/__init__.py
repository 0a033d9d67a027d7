"""Every run setting as a checked dataclass, gathered here; YAML or keywords in, plain dicts out.

One module per concern (``clip``, ``winclip``, ``video``, ...); ``files`` turns configs into
plain data and back. Nothing here imports torch or a model.
"""

from __future__ import annotations

from vlad.config.clip import (
    DEFAULT_CLIP_ARCH,
    DEFAULT_CLIP_WEIGHTS,
    LOCAL_DIR_PREFIX,
    ClipConfig,
    looks_like_path,
)
from vlad.config.demo import DemoLimits
from vlad.config.files import check_known_keys, from_mapping, load_yaml, to_dict
from vlad.config.perception import PerceptionConfig
from vlad.config.pipeline import PipelineConfig
from vlad.config.reasoning import DeductionConfig, InductionConfig, RecallConfig
from vlad.config.video import VideoConfig
from vlad.config.winclip import WinClipConfig

__all__ = [
    "DEFAULT_CLIP_ARCH",
    "DEFAULT_CLIP_WEIGHTS",
    "LOCAL_DIR_PREFIX",
    "ClipConfig",
    "DeductionConfig",
    "DemoLimits",
    "InductionConfig",
    "PerceptionConfig",
    "PipelineConfig",
    "RecallConfig",
    "VideoConfig",
    "WinClipConfig",
    "check_known_keys",
    "from_mapping",
    "load_yaml",
    "looks_like_path",
    "to_dict",
]
