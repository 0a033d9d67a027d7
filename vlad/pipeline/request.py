"""What one call of the pipeline asks for: the keyword options and their resolved form.

:class:`AnalysisOptions` types the keywords every ``Pipeline.analyze*`` method takes, so
they are declared once; :func:`build_request` checks and loads them (rule file, memory
folder) once per call, before any input is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from vlad.types import ProgressFn

if TYPE_CHECKING:
    from vlad.config import PerceptionConfig
    from vlad.scoring.memory import MemoryIndex

InputPath = str | Path


class RuleLike(Protocol):
    """What the pipeline reads from a rule: its id and its text."""

    @property
    def id(self) -> str:
        """The rule's id, cited in evidence."""
        ...

    @property
    def text(self) -> str:
        """The rule's text."""
        ...


class RuleSetLike(Protocol):
    """What the pipeline reads from a rule set (:class:`vlad.reasoning.rules.RuleSet`)."""

    def normal(self) -> Sequence[RuleLike]:
        """Rules describing normal activity."""
        ...

    def anomaly(self) -> Sequence[RuleLike]:
        """Rules describing anomalies."""
        ...


class AnalysisOptions(TypedDict, total=False):
    """The keyword options of every ``Pipeline.analyze*`` method (all optional).

    Attributes:
        definitions: What counts as anomalous, in words (default: the config's, else the
            scene prompts' for a video and WinCLIP's state words for an image); a string
            holds one per line.
        normal: What is normal, in words (joins the defaults).
        scene: What the camera shows: it joins the normal descriptions (and is the class
            name of an image).
        rules: A rule set (or its file): anomaly rules are scored as definitions, normal
            rules as normal descriptions; a rule that fires is cited.
        memory: A retrieval memory (or its folder).
        references: Normal reference images for few-shot WinCLIP+ on images.
        captioner: With ``rules``: describes each interval's peak frame (a
            :class:`~vlad.reasoning.perception.FrameCaptioner`), or with ``perception``
            the sampled frames.
        perception: With ``rules`` and ``captioner``: ``every`` or ``budget`` describes
            frames sampled from each video and judges them against the rules (a mode
            name, a mapping or a :class:`~vlad.config.PerceptionConfig`; default: the
            pipeline's, which describes only peak frames).
        map_out: Folder for the videos' peak-frame overlay PNGs.
        progress: Called with the fraction done (over all inputs) and the stage.
    """

    definitions: Sequence[str] | str
    normal: Sequence[str]
    scene: str | None
    rules: RuleSetLike | str | Path | None
    memory: MemoryIndex | str | Path | None
    references: Sequence[InputPath]
    captioner: Any
    perception: PerceptionConfig | str | dict[str, Any] | None
    map_out: str | Path | None
    progress: ProgressFn | None


@dataclass
class AnalysisRequest:
    """The options of one call, cleaned and loaded.

    Attributes:
        definitions: Cleaned definitions (no blanks, no repeats).
        normal: Cleaned normal descriptions.
        scene: The scene, or None when blank.
        rule_set: The loaded rule set, or None.
        memory: The loaded memory, or None.
        references: Normal reference images for images.
        captioner: Frame captioner for rule citations, or None.
        perception: The call's perception settings, or None (the pipeline's).
        map_out: Folder for peak-frame overlays, or None.
        progress: The progress callback, or None.
        stages: Per-call cache of stage set-ups (built once, reused by every input).
    """

    definitions: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    scene: str | None = None
    rule_set: RuleSetLike | None = None
    memory: MemoryIndex | None = None
    references: tuple[InputPath, ...] = ()
    captioner: Any = None
    perception: PerceptionConfig | None = None
    map_out: str | Path | None = None
    progress: ProgressFn | None = None
    stages: dict[str, Any] = field(default_factory=dict, repr=False)


def build_request(
    *,
    definitions: Sequence[str] | str = (),
    normal: Sequence[str] = (),
    scene: str | None = None,
    rules: RuleSetLike | str | Path | None = None,
    memory: MemoryIndex | str | Path | None = None,
    references: Sequence[InputPath] = (),
    captioner: Any = None,
    perception: PerceptionConfig | str | dict[str, Any] | None = None,
    map_out: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> AnalysisRequest:
    """Clean the options of one call and load the rule file and memory folder they name.

    Args:
        definitions: See :class:`AnalysisOptions`.
        normal: See :class:`AnalysisOptions`.
        scene: See :class:`AnalysisOptions`.
        rules: See :class:`AnalysisOptions`.
        memory: See :class:`AnalysisOptions`.
        references: See :class:`AnalysisOptions`.
        captioner: See :class:`AnalysisOptions`.
        perception: See :class:`AnalysisOptions`.
        map_out: See :class:`AnalysisOptions`.
        progress: See :class:`AnalysisOptions`.

    Returns:
        The request.

    Raises:
        VladError: A rule file or memory folder that cannot be read, a bad perception
            setting, or a definition or normal phrase over
            :data:`~vlad.config.winclip.MAX_PHRASE_CHARS` (one sentence).
    """
    from vlad.config import PerceptionConfig
    from vlad.config.winclip import check_phrases

    cleaned = {"definitions": clean_phrases(definitions), "normal": clean_phrases(normal)}
    for param, phrases in cleaned.items():
        check_phrases(phrases, param)
    return AnalysisRequest(
        definitions=cleaned["definitions"],
        normal=cleaned["normal"],
        scene=scene.strip() if scene and scene.strip() else None,
        rule_set=_load_rules(rules),
        memory=_load_memory(memory),
        references=tuple(references),
        captioner=captioner,
        perception=PerceptionConfig.of(perception) if perception is not None else None,
        map_out=map_out,
        progress=progress,
    )


def clean_phrases(phrases: Sequence[str] | str) -> tuple[str, ...]:
    r"""Strip, collapse spaces, drop empty lines and repeats; a string holds one per line.

    >>> clean_phrases("  a  fight \n\na fight\nsmoke ")
    ('a fight', 'smoke')
    """
    if isinstance(phrases, str):
        phrases = phrases.splitlines()
    cleaned = (" ".join(str(p).split()) for p in phrases)
    return tuple(dict.fromkeys(p for p in cleaned if p))


def _load_rules(rules: RuleSetLike | str | Path | None) -> RuleSetLike | None:
    if isinstance(rules, str | Path):
        from vlad.reasoning.rules import load_rules

        return load_rules(rules)
    return rules


def _load_memory(memory: MemoryIndex | str | Path | None) -> MemoryIndex | None:
    if isinstance(memory, str | Path):
        from vlad.scoring.memory import MemoryIndex

        return MemoryIndex.load(memory)
    return memory
