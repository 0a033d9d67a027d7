"""The Gradio chat demo: :func:`build_app` and :func:`launch_app` (it never imports the CLI).

``app`` builds and launches the page, ``handlers`` holds the functions behind its events
(every analysis through :class:`vlad.pipeline.Pipeline`), ``state`` the per-user sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlad.demo.app import build_app, launch_app

__all__ = ["build_app", "launch_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vlad.demo import app

        return getattr(app, name)
    raise AttributeError(f"module 'vlad.demo' has no attribute {name!r}")
