"""Checks on what a language model wrote, applied before any line of it is kept.

Small offline models (SmolLM2-135M, Gemma 3 270M) echo their prompt, stop mid-sentence,
contradict the label they were asked for, copy their input back, invent numbers and repeat
themselves. Each function here recognises one of these in one line of model text, on words
alone (no model), so that every caller drops the same things for the same reasons:

- :func:`echoes_prompt`: the line shares a run of :data:`ECHO_RUN` words (all its words,
  when it is shorter) with the instructions the model was given;
- :func:`is_fragment`: fewer words than a caller's minimum, or the last word is one no
  sentence ends on ("the", "of", "and", "is", ... :data:`FRAGMENT_ENDINGS`);
- :func:`contradicts_label`: the line states a verdict other than its label ("normal |
  A car driving on the walkway is not normal"), in the verdict words of
  :func:`~vlad.reasoning.parsing.parse_verdict`, negations applied;
- :func:`copied_from`: the line is a near copy of an input (a caption the model was shown),
  by word sequence similarity :data:`COPY_SIMILARITY`;
- :func:`repeats`: the line is a near copy of an earlier kept one;
- :func:`unsupported_numbers`: the line states a number that no evidence text holds (at the
  precision stated; a percentage may state a fraction).

The callers count what they drop by these reason names (:data:`PROMPT_ECHO`,
:data:`FRAGMENT`, ...) and say so in their output: ``vlad memory build --scene`` (the
recall report's ``rejected``), ``vlad rules induce`` (the induction report's ``dropped``)
and the answer texts (:func:`~vlad.answer.grounding.ground_text`, an explanation's notes).

The module sits in the reasoning layer because every caller is at or above it (recall and
induction in :mod:`vlad.reasoning`, the answer texts in :mod:`vlad.answer` and
:mod:`vlad.pipeline`) and it reads the verdict vocabulary of
:mod:`vlad.reasoning.parsing`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher

from vlad.reasoning.parsing import stated_verdicts

PROMPT_ECHO = "prompt echo"
FRAGMENT = "fragment"
CONTRADICTS_LABEL = "contradicts its label"
COPIED_INPUT = "copied input"
REPEAT = "repeat"
UNSUPPORTED_NUMBER = "number in no evidence"

ECHO_RUN = 5
"""Words in a row a line may share with the instructions before it is an echo."""
COPY_SIMILARITY = 0.9
"""Word-sequence similarity (difflib ratio) at which a line is a copy of an input."""
REPEAT_SIMILARITY = 0.9
"""Word-sequence similarity at which a line repeats an earlier one."""
MIN_COPY_WORDS = 3
"""Inputs shorter than this many words are not looked for in the output."""

BREAK = "\x00"
"""Put where a prompt template holds data (a scene, captions, facts): the instruction
pieces of :func:`instruction_pieces` are split there, so that no echo run crosses data."""

FRAGMENT_ENDINGS = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "to",
        "with",
        "from",
        "into",
        "onto",
        "at",
        "for",
        "towards",
        "toward",
        "near",
        "between",
        "among",
        "and",
        "or",
        "but",
        "nor",
        "while",
        "because",
        "than",
        "whose",
        "his",
        "its",
        "their",
        "our",
        "my",
        "your",
        "these",
        "those",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "very",
        "some",
        "each",
        "every",
        "not",
    }
)
"""Words no caption, rule or sentence ends on: a line ending on one was cut off. Particles
that may end a sentence ("in", "on", "up", "by", "out", "over") are not among them."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# A number written with digits, not part of a word (E1, SmolLM2), an m:ss time or a range
# of ids (rule-1): "0.38", "3.33%", "12 percent".
_NUMBER = re.compile(
    r"(?<![\w.:/\-])(?P<value>\d+(?:\.\d+)?)(?P<pct>\s*(?:%|percent\b))?(?![\w:]|[.,]\d)"
)


def words(text: str) -> list[str]:
    """The words of a text, lower case, punctuation dropped, in order."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def instruction_pieces(*texts: str) -> list[str]:
    """The instruction texts a model was given, split at :data:`BREAK` (where data was).

    Args:
        *texts: Prompt texts, formatted with :data:`BREAK` for each data placeholder
            (``template.format(scene=BREAK, count=5)``).

    Returns:
        The non-empty pieces.
    """
    return [piece for text in texts for piece in text.split(BREAK) if piece.strip()]


def _longest_run(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match().size


def echoes_prompt(line: str, instructions: Iterable[str], *, run: int = ECHO_RUN) -> bool:
    """Whether a line repeats the instructions: ``run`` words in a row shared with one piece.

    A line of fewer than ``run`` words (but at least three) is an echo when all its words
    appear in a row in one piece ("One event per line").

    Args:
        line: A line the model wrote.
        instructions: The instruction pieces (:func:`instruction_pieces`).
        run: Words in a row that make an echo.

    Returns:
        True when the line echoes the instructions.
    """
    said = words(line)
    if len(said) < 3:
        return False
    need = min(run, len(said))
    return any(_longest_run(said, words(piece)) >= need for piece in instructions)


def is_fragment(line: str, *, min_words: int = 1) -> bool:
    """Whether a line is a piece of a sentence: too few words, or a dangling last word.

    Args:
        line: A line the model wrote.
        min_words: Fewest words of a whole line.

    Returns:
        True for "A car drives on the" (ends on "the") or a line under ``min_words``.
    """
    said = words(line)
    return len(said) < max(min_words, 1) or said[-1] in FRAGMENT_ENDINGS


def contradicts_label(line: str, label: str) -> bool:
    """Whether a line's words state another verdict than its label.

    Args:
        line: A caption or rule, with any label prefix the model wrote ("normal | ...").
        label: ``normal``, or ``anomalous`` (also ``anomaly``).

    Returns:
        True when a verdict word of the line, negation applied, says the other label.
    """
    wanted = "normal" if label == "normal" else "anomalous"
    return any(verdict != wanted for verdict in stated_verdicts(line))


def _similar(a: Sequence[str], b: Sequence[str]) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def copied_from(
    line: str, inputs: Iterable[str], *, similarity: float = COPY_SIMILARITY
) -> str | None:
    """The input a line copies (the whole input or one of its sentences), or None.

    Inputs under :data:`MIN_COPY_WORDS` words are not looked for: a rule "Walking" is not
    a copy of a caption "walking".

    Args:
        line: A line the model wrote.
        inputs: Texts the model was shown as data (captions, rules).
        similarity: Word-sequence similarity (0 to 1) that makes a copy.

    Returns:
        The copied input text, or None.
    """
    said = words(line)
    if not said:
        return None
    for text in inputs:
        parts = [text, *(s for s in _SENTENCE.split(text.strip()) if s.strip())]
        for part in parts:
            other = words(part)
            if len(other) >= MIN_COPY_WORDS and _similar(said, other) >= similarity:
                return text
    return None


def repeats(line: str, earlier: Iterable[str], *, similarity: float = REPEAT_SIMILARITY) -> bool:
    """Whether a line is a near copy of one of the earlier lines.

    Args:
        line: A line the model wrote.
        earlier: Lines already kept.
        similarity: Word-sequence similarity (0 to 1) that makes a repeat.
    """
    said = words(line)
    return bool(said) and any(_similar(said, words(e)) >= similarity for e in earlier)


def numbers_in(text: str) -> list[tuple[float, int, bool]]:
    """The numbers a text writes with digits: (value, decimals, is a percentage).

    Times (``0:42``), ids (``E1``, ``rule-2``) and numbers inside words are not numbers here.
    """
    found = []
    for match in _NUMBER.finditer(text):
        value = match.group("value")
        decimals = len(value.split(".")[1]) if "." in value else 0
        found.append((float(value), decimals, match.group("pct") is not None))
    return found


def _supported(value: float, decimals: int, known: Sequence[float]) -> bool:
    if decimals == 0:
        return any(k == value for k in known)
    return any(abs(round(k, decimals) - round(value, decimals)) < 1e-9 for k in known)


def unsupported_numbers(
    line: str, evidence: Iterable[str], *, counts: Iterable[int] = ()
) -> list[str]:
    """The numbers a line states that no evidence text holds, as written in the line.

    A number is supported when an evidence number rounds to it at the precision the line
    states it ("0.4" for 0.38; an integer only when equal); a percentage also when its
    fraction is supported ("38%" for 0.38).

    Args:
        line: A line the model wrote.
        evidence: The texts the model was given as facts.
        counts: Further whole numbers it may state (how many intervals there are).

    Returns:
        The unsupported numbers, in line order (empty when every number is supported).
    """
    known = [v for text in evidence for v, _, _ in numbers_in(text)]
    known += [float(c) for c in counts]
    unsupported = []
    for match in _NUMBER.finditer(line):
        value = float(match.group("value"))
        decimals = len(match.group("value").split(".")[1]) if "." in match.group("value") else 0
        ok = _supported(value, decimals, known)
        if not ok and match.group("pct") is not None:
            ok = _supported(value / 100.0, decimals + 2, known)
        if not ok:
            unsupported.append(match.group().strip())
    return unsupported


def describe_drops(counts: Mapping[str, int]) -> str:
    """The dropped lines by reason, most first: ``"3 prompt echo, 1 fragment"``.

    Args:
        counts: Reason -> lines dropped for it (zeros are left out).

    Returns:
        The description ("" when nothing was dropped).
    """
    items = sorted(((n, r) for r, n in counts.items() if n), key=lambda item: (-item[0], item[1]))
    return ", ".join(f"{n} {reason}" for n, reason in items)
