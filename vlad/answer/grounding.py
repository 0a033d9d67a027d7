"""The checks that keep a model's words honest: :func:`ground_text` and its helpers.

A sentence of a model's text is kept only when the evidence of an
:class:`~vlad.answer.explanation.Explanation` supports it: it cites no evidence that does not
exist, states no ``m:ss`` time outside the intervals, and does not contradict the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlad.utils.clock import clock

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation

_TIME = re.compile(r"(?<![\d:.])(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)(?:\.\d+)?(?![\d:])")
_CITATION = re.compile(r"\bE(\d{1,3})\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Claims that settle the verdict; a sentence making the opposite claim is dropped, since
# verdicts come from scores, never from words (a question may try to talk them away).
_NORMAL_CLAIM = re.compile(
    r"\b(everything|all|it|this|the (video|image|scene|footage)) (is|looks|seems|was) "
    r"(completely |totally |perfectly )?(normal|fine|ok|okay|safe)\b"
    r"|\bno(thing)? (anomal\w*|unusual|abnormal|suspicious)\b"
    r"|\bnot anomalous\b|\bno anomaly\b",
    re.IGNORECASE,
)
_ANOMALY_CLAIM = re.compile(
    r"\b(is|are|was|were|looks|seems) (clearly |definitely )?(anomalous|abnormal|suspicious)\b"
    r"|\banomal\w* (was |were |is )?(found|detected|present|occur\w*)\b",
    re.IGNORECASE,
)


def parse_clock(text: str) -> float | None:
    """Seconds of an ``m:ss`` or ``h:mm:ss`` time, or None when the text holds none."""
    match = _TIME.search(text)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return 3600.0 * int(hours or 0) + 60.0 * int(minutes) + float(seconds)


def times_in(text: str) -> list[float]:
    """Every ``m:ss`` (or ``h:mm:ss``) time stated in a text, in seconds, in order."""
    return [3600.0 * int(h or 0) + 60.0 * int(m) + float(s) for h, m, s in _TIME.findall(text)]


@dataclass(frozen=True)
class GroundedText:
    """A model's text after :func:`ground_text`.

    Attributes:
        text: The sentences kept, joined.
        kept: How many sentences were kept.
        dropped: Why each dropped sentence was dropped.
        citations: Evidence ids cited by the kept sentences.
        times_s: Times stated by the kept sentences.
    """

    text: str
    kept: int
    dropped: tuple[str, ...]
    citations: tuple[str, ...]
    times_s: tuple[float, ...]

    @property
    def grounded(self) -> bool:
        """True when something was kept and it cites evidence or a valid time."""
        return self.kept > 0 and bool(self.citations or self.times_s)


def sentences(text: str) -> list[str]:
    """Split a text into sentences (and lines), dropping empty ones."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


def ground_text(
    text: str,
    explanation: Explanation,
    *,
    extra_times_s: Iterable[float] = (),
    tolerance_s: float = 1.0,
    instructions: str = "",
) -> GroundedText:
    """Keep only the sentences of a model's text that the evidence supports.

    A sentence is dropped when it cites an evidence id that does not exist, states an
    ``m:ss`` time inside no interval (widened by ``tolerance_s``; the ``extra_times_s``,
    e.g. the time a user asked about, also count), or claims the opposite of the verdict
    ("everything is normal" about an anomalous video).

    Args:
        text: The model's text.
        explanation: The explanation it should be about.
        extra_times_s: Further times the text may state.
        tolerance_s: Slack around intervals and extra times, in seconds.
        instructions: The prompt the model was given: a sentence that repeats one of
            its sentences (small models echo their prompt) is dropped, as is a fragment
            of fewer than three words.

    Returns:
        The kept sentences, with what was dropped and why.
    """
    known = {e.id for e in explanation.evidence}
    extra = [float(t) for t in extra_times_s]
    kept: list[str] = []
    dropped: list[str] = []
    citations: list[str] = []
    stated: list[float] = []
    echoes = [_words(line) for line in sentences(instructions)]
    for sentence in sentences(text):
        words = _words(sentence)
        if len(words) < 3:
            dropped.append(f"is a fragment: {sentence}")
            continue
        if any(len(words & echo) >= 0.7 * len(words) for echo in echoes if echo):
            dropped.append(f"repeats the instructions: {sentence}")
            continue
        cited = [f"E{int(n)}" for n in _CITATION.findall(sentence)]
        unknown = [c for c in cited if c not in known]
        if unknown:
            dropped.append(f"cites {', '.join(unknown)}, which does not exist: {sentence}")
            continue
        times = times_in(sentence)
        invented = [
            t
            for t in times
            if not any(e.contains(t, tolerance_s=tolerance_s) for e in explanation.evidence)
            and not any(abs(t - x) <= tolerance_s for x in extra)
        ]
        if invented:
            dropped.append(f"states {clock(invented[0])}, which no interval holds: {sentence}")
            continue
        if explanation.anomalous and _NORMAL_CLAIM.search(sentence):
            dropped.append(f"calls it normal against the scores: {sentence}")
            continue
        if not explanation.anomalous and _ANOMALY_CLAIM.search(sentence):
            dropped.append(f"calls it anomalous against the scores: {sentence}")
            continue
        kept.append(sentence)
        citations.extend(c for c in cited if c not in citations)
        stated.extend(times)
    return GroundedText(
        text=" ".join(kept),
        kept=len(kept),
        dropped=tuple(dropped),
        citations=tuple(citations),
        times_s=tuple(stated),
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))
