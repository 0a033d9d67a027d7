"""Settings of the WinCLIP zero-/few-shot image scorer."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vlad.errors import ConfigError


@dataclass(frozen=True)
class WinClipConfig:
    """Settings of the WinCLIP zero-/few-shot scorer.

    Attributes:
        class_name: The object in the images ("bottle", "metal nut", "walkway scene").
        prompts: Name of a packaged prompt set or path of a YAML file.
        definitions: Phrases describing what counts as anomalous (``--define``).
        normal: Phrases describing what is normal (``--normal``).
        replace_states: Use only the user's phrases instead of adding them to the state words.
        scales: Window sizes in patches for the multi-scale windows (WinCLIP: 2 and 3).
        temperature: Softmax temperature over normal/anomalous text similarity (0.07).
        threshold: Score at or above which an image is called anomalous.
    """

    class_name: str = "object"
    prompts: str = "winclip"
    definitions: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    replace_states: bool = False
    scales: tuple[int, ...] = (2, 3)
    temperature: float = 0.07
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.class_name.strip():
            raise ConfigError(
                "The class name is empty; pass what the images show, e.g. 'bottle'.",
                param="class_name",
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(
                f"Temperature must be a positive number, got {self.temperature}.",
                param="temperature",
            )
        if not 0.0 <= self.threshold <= 1.0:  # also refuses NaN
            raise ConfigError(
                f"Threshold must lie in [0, 1], got {self.threshold}.", param="threshold"
            )
        if any(s < 1 for s in self.scales):
            raise ConfigError(f"Window scales must be positive patch counts, got {self.scales}.")
        check_phrases(self.definitions, "definitions")
        check_phrases(self.normal, "normal")
        if self.replace_states and not self.definitions:
            raise ConfigError(
                "Replacing the state words needs at least one definitions phrase to use instead.",
                param="definitions",
            )


MAX_PHRASE_CHARS = 1000
"""Longest definition or normal phrase, in characters: a sentence or two.

CLIP's text encoder reads 77 tokens and an LLM prompt quotes every definition, so a longer
phrase (a pasted document) is cut or floods the prompt; it is refused rather than used.
"""


def check_phrases(phrases: tuple[str, ...], param: str) -> None:
    """Refuse an empty or overlong phrase among definitions or normal phrases.

    Args:
        phrases: The phrases.
        param: The parameter they were given as (``definitions`` or ``normal``).

    Raises:
        ConfigError: A phrase is empty or only spaces, or longer than
            :data:`MAX_PHRASE_CHARS` (the message names the parameter).
    """
    if any(not phrase.strip() for phrase in phrases):
        raise ConfigError(f"A phrase in {param} is empty; give it some words.", param=param)
    longest = max((len(phrase) for phrase in phrases), default=0)
    if longest > MAX_PHRASE_CHARS:
        raise ConfigError(
            f"A phrase in {param} is {longest:,} characters long, more than the limit of "
            f"{MAX_PHRASE_CHARS:,}; say it in a sentence or two.",
            param=param,
        )
