"""The pipeline: media -> encoders -> scorers -> answer, one façade for every surface.

``from vlad.pipeline import Pipeline`` loads torch only when the name is first used, so
that ``import vlad.pipeline`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlad.pipeline.analysis import Analysis, DefinitionResult
    from vlad.pipeline.facade import Pipeline

__all__ = ["Analysis", "DefinitionResult", "Pipeline"]

_WHERE = {
    "Analysis": "vlad.pipeline.analysis",
    "DefinitionResult": "vlad.pipeline.analysis",
    "Pipeline": "vlad.pipeline.facade",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'vlad.pipeline' has no attribute {name!r}")
