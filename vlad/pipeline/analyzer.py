"""Deprecated names of vlad 0.1, kept for one release: use :class:`vlad.pipeline.Pipeline`.

``Analyzer`` is :class:`~vlad.pipeline.facade.Pipeline` (its ``analyze(path)`` is now
``analyze_one(path)``; ``analyze(inputs)`` returns a list of explanations) and
``AnalyzerConfig`` is :class:`~vlad.config.PipelineConfig`.
"""

from __future__ import annotations

import warnings
from typing import Any

_NEW = {
    "Analyzer": ("vlad.pipeline.facade", "Pipeline"),
    "AnalyzerConfig": ("vlad.config.pipeline", "PipelineConfig"),
    "Analysis": ("vlad.pipeline.analysis", "Analysis"),
    "DefinitionResult": ("vlad.pipeline.analysis", "DefinitionResult"),
    "MEMORY_TRACK": ("vlad.pipeline.evidence", "MEMORY_TRACK"),
}


def __getattr__(name: str) -> Any:
    if name in _NEW:
        import importlib

        module, new = _NEW[name]
        warnings.warn(
            f"vlad.pipeline.analyzer.{name} is deprecated and goes in the next release; "
            f"use {module}.{new}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new)
    raise AttributeError(f"module 'vlad.pipeline.analyzer' has no attribute {name!r}")
