"""Errors a person may see.

Every error raised for a user's input or setting is a :class:`VladError` whose message is
one sentence naming the input and what to do. The CLI and the demo print that sentence and
never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import re


class VladError(Exception):
    """Base class of the errors vlad reports to a person as one sentence.

    Library code names parameters, never command-line flags: ``ConfigError("sample_fps must
    be > 0, got 0.", param="sample_fps")``. A surface (the CLI, the demo) that knows its own
    word for the parameter (``--fps``, a form field) translates the message with
    :meth:`for_surface`.

    Args:
        message: One sentence naming the input or parameter and what to do.
        param: The parameter the message is about (as the Python API names it), if any.
    """

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def for_surface(self, names: dict[str, str]) -> str:
        """The message with the parameter named as a surface names it.

        Args:
            names: Parameter name -> the surface's word for it (``{"sample_fps": "--fps"}``).

        Returns:
            The message, with the parameter's name (as a whole word) replaced where the
            surface has a word for it; unchanged otherwise.
        """
        message = str(self)
        if self.param and self.param in names:
            # Whole words only: ``threshold`` must not rewrite ``low_threshold``.
            pattern = rf"(?<![\w.-]){re.escape(self.param)}(?![\w-])"
            return re.sub(pattern, lambda _: names[self.param or ""], message)
        return message


class InputError(VladError):
    """An input file, array or value cannot be used (missing, corrupt, too big, wrong kind)."""


class ModelLoadError(VladError):
    """A model or its weights cannot be loaded (unknown name, no hub access, bad file)."""


class ConfigError(VladError):
    """A setting is out of range or inconsistent with another."""


class MissingDependencyError(VladError):
    """An optional library is needed for this feature and is not installed."""
