"""The checks that keep a model's words honest: :func:`ground_text` and its helpers.

A sentence of a model's text is kept only when the evidence of an
:class:`~vlad.answer.explanation.Explanation` supports it: it is a whole sentence, does not
echo the prompt or repeat an earlier sentence, cites no evidence that does not exist, states
no ``m:ss`` time outside the intervals and no number the facts do not hold, and does not
contradict the verdict. The line checks are those of :mod:`vlad.reasoning.checks`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlad.reasoning.checks import (
    FRAGMENT,
    PROMPT_ECHO,
    REPEAT,
    UNSUPPORTED_NUMBER,
    describe_drops,
    echoes_prompt,
    instruction_pieces,
    is_fragment,
    repeats,
    unsupported_numbers,
)
from vlad.utils.clock import clock

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation

_TIME = re.compile(r"(?<![\d:.])(?:(\d{1,2}):)?(\d{1,3}):([0-5]\d)(?:\.\d+)?(?![\d:])")
_CITATION = re.compile(r"\bE(\d{1,3})\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_TERMINATED = re.compile(r"[.!?][\"'”’)\]]*\s*$")

UNKNOWN_EVIDENCE = "unknown evidence"
TIME_IN_NO_INTERVAL = "time in no interval"
CONTRADICTS_VERDICT = "contradicts the verdict"
MIN_SENTENCE_WORDS = 3
"""Fewest words of a sentence the model wrote; shorter ones are fragments."""
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
        dropped: Why each dropped sentence was dropped, with the sentence.
        citations: Evidence ids cited by the kept sentences.
        times_s: Times stated by the kept sentences.
        reasons: The reason of each dropped sentence, by name (``fragment``, ``prompt
            echo``, ``repeat``, ``unknown evidence``, ``time in no interval``, ``number in
            no evidence``, ``contradicts the verdict``), in the order of ``dropped``.
    """

    text: str
    kept: int
    dropped: tuple[str, ...]
    citations: tuple[str, ...]
    times_s: tuple[float, ...]
    reasons: tuple[str, ...] = ()

    @property
    def grounded(self) -> bool:
        """True when something was kept and it cites evidence or a valid time."""
        return self.kept > 0 and bool(self.citations or self.times_s)

    @property
    def drop_counts(self) -> dict[str, int]:
        """Sentences dropped, per reason."""
        return dict(sorted(Counter(self.reasons).items()))

    def note(self, *, replaced: bool) -> str | None:
        """One sentence for a reader on what the checks dropped, or None when nothing.

        Args:
            replaced: Whether the text was replaced by the evidence template.
        """
        total = self.kept + len(self.dropped)
        drops = describe_drops(self.drop_counts)
        if replaced:
            why = f"{len(self.dropped)} of its {total} sentences failed the checks ({drops})"
            if not self.dropped:
                why = "it cites no evidence id or interval time"
            return f"The language model's text was replaced by the evidence template: {why}."
        if not self.dropped:
            return None
        return (
            f"{len(self.dropped)} of the language model's {total} sentences were dropped by "
            f"the checks ({drops})."
        )


def sentences(text: str) -> list[str]:
    """Split a text into sentences (and lines), dropping empty ones."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


def ground_text(
    text: str,
    explanation: Explanation,
    *,
    extra_times_s: Iterable[float] = (),
    tolerance_s: float = 1.0,
    instructions: str | Sequence[str] = "",
    sources: Sequence[str] | None = None,
) -> GroundedText:
    """Keep only the sentences of a model's text that the evidence supports.

    A sentence is dropped (its reason named in ``reasons``) when it is a ``fragment``
    (under three words, ending on a word no sentence ends on such as "the", or the
    unterminated last sentence of a text whose other sentences end with a full stop: the
    model was cut off), a ``prompt echo`` (it shares five words in a row with the
    instructions, or most of its words with one of their sentences), a ``repeat`` of an
    earlier kept sentence, cites an evidence id that does not exist (``unknown
    evidence``), states an ``m:ss`` time inside no interval (``time in no interval``;
    intervals widened by ``tolerance_s``, the ``extra_times_s``, e.g. the time a user asked
    about, also count), states a number the facts do not hold (``number in no evidence``:
    "a 3.33% drop", "a score of 0.10"), or claims the opposite of the verdict ("everything
    is normal" about an anomalous video: ``contradicts the verdict``).

    Args:
        text: The model's text.
        explanation: The explanation it should be about.
        extra_times_s: Further times the text may state.
        tolerance_s: Slack around intervals and extra times, in seconds.
        instructions: The prompt the model was given (its data replaced by
            :data:`~vlad.reasoning.checks.BREAK`), or its pieces.
        sources: The texts the model was given as facts (and the question): the numbers
            it may state. Default: :func:`~vlad.answer.text.facts` of the explanation.

    Returns:
        The kept sentences, with what was dropped and why.
    """
    from vlad.answer.text import facts

    known = {e.id for e in explanation.evidence}
    extra = [float(t) for t in extra_times_s]
    given = list(facts(explanation) if sources is None else sources)
    counts = (len(explanation.evidence), len(explanation.intervals))
    texts = [instructions] if isinstance(instructions, str) else list(instructions)
    pieces = instruction_pieces(*texts)
    echoes = [_words(line) for piece in pieces for line in sentences(piece)]
    kept: list[str] = []
    dropped: list[str] = []
    reasons: list[str] = []
    citations: list[str] = []
    stated: list[float] = []

    def drop(reason: str, why: str, sentence: str) -> None:
        reasons.append(reason)
        dropped.append(f"{why}: {sentence}")

    parts = sentences(text)
    cut_off = (
        len(parts) > 1
        and not _TERMINATED.search(text)
        and any(_TERMINATED.search(p) for p in parts[:-1])
    )
    for position, sentence in enumerate(parts):
        words = _words(sentence)
        if is_fragment(sentence, min_words=MIN_SENTENCE_WORDS) or (
            cut_off and position == len(parts) - 1
        ):
            drop(FRAGMENT, "is a fragment", sentence)
            continue
        if echoes_prompt(sentence, pieces) or any(
            len(words & echo) >= 0.7 * len(words) for echo in echoes if echo
        ):
            drop(PROMPT_ECHO, "repeats the instructions", sentence)
            continue
        if repeats(sentence, kept):
            drop(REPEAT, "repeats an earlier sentence", sentence)
            continue
        cited = [f"E{int(n)}" for n in _CITATION.findall(sentence)]
        unknown = [c for c in cited if c not in known]
        if unknown:
            drop(UNKNOWN_EVIDENCE, f"cites {', '.join(unknown)}, which does not exist", sentence)
            continue
        times = times_in(sentence)
        invented = [
            t
            for t in times
            if not any(e.contains(t, tolerance_s=tolerance_s) for e in explanation.evidence)
            and not any(abs(t - x) <= tolerance_s for x in extra)
        ]
        if invented:
            drop(
                TIME_IN_NO_INTERVAL,
                f"states {clock(invented[0])}, which no interval holds",
                sentence,
            )
            continue
        numbers = unsupported_numbers(sentence, given, counts=counts)
        if numbers:
            drop(UNSUPPORTED_NUMBER, f"states {numbers[0]}, which no evidence holds", sentence)
            continue
        if explanation.anomalous and _NORMAL_CLAIM.search(sentence):
            drop(CONTRADICTS_VERDICT, "calls it normal against the scores", sentence)
            continue
        if not explanation.anomalous and _ANOMALY_CLAIM.search(sentence):
            drop(CONTRADICTS_VERDICT, "calls it anomalous against the scores", sentence)
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
        reasons=tuple(reasons),
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))
