"""Optional libraries: check for one before any work starts, and name its extra if it is missing.

A feature that needs an extra (``vlad demo`` needs Gradio from ``vlad[demo]``) calls
:func:`require_extra` first, so a plain ``pip install vlad`` gets one sentence saying what
to install instead of a traceback after minutes of model loading.
"""

from __future__ import annotations

import importlib.util

from vlad.errors import MissingDependencyError

__all__ = ["has_module", "install_hint", "require_extra"]


def has_module(module: str) -> bool:
    """Whether a module can be imported, without importing it.

    Args:
        module: A top-level module name, e.g. ``"gradio"``.

    Returns:
        True when it is installed (a module set to None in ``sys.modules`` counts as absent).
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails to import, or no __spec__
        return False


def install_hint(extra: str) -> str:
    """The command that installs one of vlad's extras.

    Example:
        >>> install_hint("demo")
        "pip install 'vlad[demo]'"
    """
    return f"pip install 'vlad[{extra}]'"


def require_extra(module: str, *, extra: str, feature: str, library: str | None = None) -> None:
    """Raise one sentence naming the extra when ``module`` is not installed.

    Args:
        module: The module the feature imports, e.g. ``"gradio"``.
        extra: The extra of vlad that installs it, e.g. ``"demo"``.
        feature: What needs it, as a person calls it, e.g. ``"vlad demo"``.
        library: The library's name as people know it (default: ``module``).

    Raises:
        MissingDependencyError: The module is not installed.
    """
    if not has_module(module):
        raise MissingDependencyError(
            f"{feature} needs {library or module}, which is not installed; install it with "
            f"{install_hint(extra)}."
        )
