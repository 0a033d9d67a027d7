"""Errors a person may see.

Every error raised for a user's input or setting is a :class:`VladError` whose message is
one sentence naming the input and what to do. The CLI and the demo print that sentence and
never a traceback (``--debug`` shows it).
"""

from __future__ import annotations


class VladError(Exception):
    """Base class of the errors vlad reports to a person as one sentence."""


class InputError(VladError):
    """An input file, array or value cannot be used (missing, corrupt, too big, wrong kind)."""


class ModelLoadError(VladError):
    """A model or its weights cannot be loaded (unknown name, no hub access, bad file)."""


class ConfigError(VladError):
    """A setting is out of range or inconsistent with another."""


class MissingDependencyError(VladError):
    """An optional library is needed for this feature and is not installed."""
