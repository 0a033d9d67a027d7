"""Read verdicts, scores and JSON out of the free text that language models write.

Every parser here returns ``None`` when the text holds no usable answer; it then logs a
warning and counts the failure in a :class:`ParseStats` (the module's
:data:`DEFAULT_STATS` unless one is passed in). No parser raises on any text, and none
returns a made-up value such as ``-1``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

Verdict = Literal["normal", "anomalous"]
ParseKind = Literal["verdict", "score", "json"]

# Longer answers are cut before parsing: no verdict or JSON worth having is this long, and
# the bracket scan below must stay fast on any input.
MAX_TEXT_CHARS = 200_000
_JSON_SCAN_BUDGET = 500_000


@dataclass
class ParseStats:
    """Counts of parse attempts and failures, per kind of parse; safe across threads.

    Attributes:
        attempts: How many texts each parser was given, by kind.
        failures: How many of them gave ``None``, by kind.
    """

    attempts: dict[str, int] = field(default_factory=lambda: {"verdict": 0, "score": 0, "json": 0})
    failures: dict[str, int] = field(default_factory=lambda: {"verdict": 0, "score": 0, "json": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, kind: ParseKind, ok: bool) -> None:
        """Count one attempt of ``kind``, and a failure unless ``ok``."""
        with self._lock:
            self.attempts[kind] = self.attempts.get(kind, 0) + 1
            if not ok:
                self.failures[kind] = self.failures.get(kind, 0) + 1

    @property
    def total_failures(self) -> int:
        """Failures of every kind together."""
        return sum(self.failures.values())

    def failure_rate(self, kind: ParseKind) -> float | None:
        """The share of ``kind`` attempts that failed, or None before any attempt."""
        attempts = self.attempts.get(kind, 0)
        return self.failures.get(kind, 0) / attempts if attempts else None

    def reset(self) -> None:
        """Set every count back to zero."""
        with self._lock:
            for counts in (self.attempts, self.failures):
                for kind in counts:
                    counts[kind] = 0


_LABELS = {"verdict": "verdict", "score": "score", "json": "JSON value"}

DEFAULT_STATS = ParseStats()
"""Where the parsers count unless they are given their own :class:`ParseStats`."""


def _finish(kind: ParseKind, value: Any, text: object, stats: ParseStats | None, why: str) -> Any:
    (stats if stats is not None else DEFAULT_STATS).record(kind, value is not None)
    if value is None:
        snippet = text[:120] if isinstance(text, str) else type(text).__name__
        logger.warning(
            "Could not read a %s from the model answer (%s): %r", _LABELS[kind], why, snippet
        )
    return value


# ---------------------------------------------------------------------------- verdicts

_ANOMALOUS_WORDS = frozenset(
    {
        "anomalous",
        "anomaly",
        "anomalies",
        "abnormal",
        "abnormality",
        "abnormalities",
        "unusual",
        "atypical",
        "irregular",
        "irregularity",
        "defective",
        "defect",
        "defects",
        "damaged",
    }
)
_NORMAL_WORDS = frozenset({"normal", "usual", "typical", "ordinary", "regular", "unremarkable"})
_NEGATORS = frozenset(
    {"not", "no", "never", "without", "nothing", "none", "non", "neither", "nor", "cannot"}
)
# "anomaly score", "anomaly detection": the word names a quantity, not a finding.
_QUANTITY_WORDS = frozenset(
    {"score", "scores", "detection", "level", "probability", "likelihood", "rating", "map"}
)
_NEGATION_WINDOW = 4
_PHRASES = (
    (re.compile(r"\bout of the ordinary\b"), "unusual"),
    (re.compile(r"\bout of place\b"), "unusual"),
    (re.compile(r"\b(anomaly|defect|anomalies|defects)[- ]free\b"), "no anomaly"),
)
_MARKER = re.compile(
    r"\b(?:final answer|answer|verdict|label|classification|conclusion|decision|prediction)"
    r"\s*(?:is\s*)?[:=\-]|\b(?:in conclusion|in summary|overall|therefore|thus|hence)\b"
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_CLAUSE_BREAK = re.compile(r"[,;:()\"]|\b(?:but|however|although|though|yet|except|whereas)\b")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_JSON_VERDICT_KEYS = ("verdict", "answer", "label", "classification", "prediction", "result")
_JSON_FLAG_KEYS = ("is_anomalous", "anomalous", "is_anomaly", "anomaly", "abnormal")


def _normalise(text: str) -> str:
    text = text[:MAX_TEXT_CHARS].lower().replace("\u2019", "'").replace("`", " ")
    text = re.sub(r"[*_#>]+", " ", text)
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    return text


def _clause_verdicts(clause: str) -> list[Verdict]:
    words = _WORD.findall(clause)
    found: list[Verdict] = []
    for i, word in enumerate(words):
        if word in _ANOMALOUS_WORDS:
            anomalous = True
        elif word in _NORMAL_WORDS:
            anomalous = False
        else:
            continue
        if i + 1 < len(words) and words[i + 1] in _QUANTITY_WORDS:
            continue
        window = words[max(0, i - _NEGATION_WINDOW) : i]
        negations = sum(1 for w in window if w in _NEGATORS or w.endswith("n't"))
        if negations % 2:
            anomalous = not anomalous
        found.append("anomalous" if anomalous else "normal")
    return found


def stated_verdicts(text: str) -> list[Verdict]:
    """Every verdict a text states in words, in order, each negation applied.

    The verdict words and the negation rule are those of :func:`parse_verdict`: "not
    normal" is anomalous, "nothing unusual" is normal, and "anomaly score" states none.
    Unlike :func:`parse_verdict` nothing is decided and nothing is counted: a caption
    labelled normal that says "is not normal" gives ``["anomalous"]``.

    Args:
        text: Any text.

    Returns:
        The verdicts, one per verdict word, in text order (empty when there is none).
    """
    if not isinstance(text, str):
        return []
    normalised = _normalise(text)
    return [
        verdict
        for sentence in _SENTENCE.finditer(normalised)
        for clause in _CLAUSE_BREAK.split(sentence.group())
        for verdict in _clause_verdicts(clause)
    ]


def _segment_verdict(segment: str, yes_means: Verdict | None) -> Verdict | None:
    """The verdict of one stretch of text, or None when it holds none or a conflict."""
    found: list[Verdict] = []
    for clause in _CLAUSE_BREAK.split(segment):
        found.extend(_clause_verdicts(clause))
    if found:
        return found[0] if len(set(found)) == 1 else None
    if yes_means is not None:
        first = _WORD.search(segment)
        if first and first.group() in ("yes", "no"):
            other: Verdict = "normal" if yes_means == "anomalous" else "anomalous"
            return yes_means if first.group() == "yes" else other
    return None


def _json_verdict(text: str, yes_means: Verdict | None) -> Verdict | None:
    if "{" not in text:
        return None
    value = _find_json(text)
    if not isinstance(value, dict):
        return None
    lowered = {str(k).lower(): v for k, v in value.items()}
    for key in _JSON_FLAG_KEYS:
        if isinstance(lowered.get(key), bool):
            return "anomalous" if lowered[key] else "normal"
    for key in _JSON_VERDICT_KEYS:
        if isinstance(lowered.get(key), str):
            return _text_verdict(lowered[key], yes_means)
    return None


def _text_verdict(text: str, yes_means: Verdict | None) -> Verdict | None:
    text = _normalise(text)
    markers = list(_MARKER.finditer(text))
    if markers:
        tail = text[markers[-1].end() :].lstrip()
        sentence = _SENTENCE.match(tail)
        if sentence:
            verdict = _segment_verdict(sentence.group(), yes_means)
            if verdict is not None:
                return verdict
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group().strip()
        if not body or body.endswith("?"):  # the model repeating the question
            continue
        found = [v for clause in _CLAUSE_BREAK.split(body) for v in _clause_verdicts(clause)]
        if found:
            return found[0] if len(set(found)) == 1 else None
    # No verdict words anywhere: fall back to a leading yes or no.
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group().strip()
        if body and not body.endswith("?"):
            return _segment_verdict(body, yes_means)
    return None


def parse_verdict(
    text: str, *, yes_means: Verdict | None = None, stats: ParseStats | None = None
) -> Verdict | None:
    """Read whether a model called an image or video normal or anomalous.

    The rules, in order:

    1. A JSON object with a boolean ``is_anomalous``/``anomalous``/``anomaly`` key, or a
       ``verdict``/``answer``/``label`` string, decides.
    2. Text after the last answer marker ("Answer:", "Verdict:", "Overall", "In
       conclusion", "Therefore"), up to the end of that sentence, decides when it holds a
       verdict word.
    3. Otherwise the first sentence with a verdict word decides; sentences ending in "?"
       (a repeated question) are skipped. Verdict words are "anomalous", "anomaly",
       "abnormal", "unusual", "defective", ... against "normal", "usual", "typical",
       "ordinary", ...; a negation up to four words before one in the same clause ("not",
       "no", "nothing", "isn't", "non-", ...) flips it, so "not anomalous" and "no
       anomalies" are normal and "not normal" is anomalous. Words that disagree within that
       sentence make the answer ambiguous: None.
    4. With no verdict word anywhere, a leading "yes" or "no" decides, but only when
       ``yes_means`` says what the question asked; otherwise None.

    Args:
        text: The model's answer.
        yes_means: What "yes" answers: ``"anomalous"`` when the question was "Is it
            anomalous?", ``"normal"`` when it was "Is it normal?", None when the question
            was not a yes/no question (a bare "yes" is then not a verdict).
        stats: Where to count the attempt; :data:`DEFAULT_STATS` when None.

    Returns:
        ``"normal"``, ``"anomalous"``, or None when the text gives no clear verdict.
    """
    verdict: Verdict | None = None
    try:
        if isinstance(text, str):
            verdict = _json_verdict(text, yes_means) or _text_verdict(text, yes_means)
    except Exception:  # a parser of model text must never take a run down
        logger.debug("parse_verdict failed on %r", text, exc_info=True)
        verdict = None
    return _finish("verdict", verdict, text, stats, "no clear normal/anomalous answer")


# ------------------------------------------------------------------------------ scores

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CANDIDATE = re.compile(
    rf"(?<![\w.])(?P<num>{_NUMBER})"
    rf"(?:\s*(?P<pct>%|percent\b)|\s*(?:/|\bout of\b)\s*(?P<den>{_NUMBER}))?"
)
_SCALE = re.compile(
    rf"\b(?:scale|range)\s+(?:of\s+|from\s+)?(?P<lo>{_NUMBER})\s*(?:to|-|–)\s*(?P<hi>{_NUMBER})"
)
_SCORE_LABEL = re.compile(
    r"\b(?:score|probability|likelihood|confidence|rating|rate|chance)\b[^\d+\-.]{0,24}"
)


def _candidate_value(match: re.Match[str], scale: tuple[float, float] | None) -> float | None:
    number = float(match.group("num"))
    if match.group("pct"):
        value = number / 100.0
    elif match.group("den") is not None:
        denominator = float(match.group("den"))
        if not denominator > 0 or number > denominator:
            return None
        value = number / denominator
    elif scale is not None:
        low, high = scale
        value = (number - low) / (high - low)
    else:
        value = number
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _score(text: str) -> float | None:
    text = text[:MAX_TEXT_CHARS].lower()
    scale: tuple[float, float] | None = None
    scale_match = _SCALE.search(text)
    if scale_match:
        low, high = float(scale_match.group("lo")), float(scale_match.group("hi"))
        if math.isfinite(low) and math.isfinite(high) and high > low:
            scale = (low, high)
        # The scale's own bounds are not the answer.
        text = (
            text[: scale_match.start()] + " " * len(scale_match.group()) + text[scale_match.end() :]
        )
    candidates = list(_CANDIDATE.finditer(text))
    if not candidates:
        return None
    starts = {c.start(): c for c in candidates}
    labelled = (starts.get(label.end()) for label in _SCORE_LABEL.finditer(text))
    chosen = next((c for c in labelled if c is not None), candidates[0])
    return _candidate_value(chosen, scale)


def parse_score(text: str, *, stats: ParseStats | None = None) -> float | None:
    """Read an anomaly score in [0, 1] from a model's answer.

    The number right after a label ("score: 0.8", "probability of 0.3") is taken; without
    a label, the first number in the text. Percentages ("85%") and fractions ("7/10",
    "3 out of 5") are divided out, and a stated scale ("on a scale of 0 to 10, 8") maps
    onto [0, 1]. A chosen number outside [0, 1] after that is not a score: None.

    Args:
        text: The model's answer.
        stats: Where to count the attempt; :data:`DEFAULT_STATS` when None.

    Returns:
        The score, or None when the text holds no number in range.
    """
    score: float | None = None
    try:
        if isinstance(text, str):
            score = _score(text)
    except Exception:  # a parser of model text must never take a run down
        logger.debug("parse_score failed on %r", text, exc_info=True)
        score = None
    return _finish("score", score, text, stats, "no number in [0, 1]")


# -------------------------------------------------------------------------------- JSON

_OPENERS = {"{": "}", "[": "]"}
_LITERALS = {
    "true": "true",
    "false": "false",
    "null": "null",
    "True": "true",
    "False": "false",
    "None": "null",
}
_IDENTIFIER = re.compile(r"[^\W\d]\w*")


def _starts_string(text: str, i: int) -> bool:
    """Whether a single quote at ``i`` opens a string: after ``{ [ , :`` only.

    Elsewhere it is an apostrophe ("it's"), and treating it as a quote would swallow text.
    """
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return j >= 0 and text[j] in "{[,:"


def _span_end(text: str, start: int, budget: list[int]) -> int | None:
    """The index after the bracket closing the one at ``start``, or None.

    ``budget`` holds how many more characters all scans together may step over; it stops
    a quadratic walk over text such as "[[[[...".
    """
    stack = [_OPENERS[text[start]]]
    i = start + 1
    n = len(text)
    while i < n:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        char = text[i]
        if char in "\"'" and (char == '"' or _starts_string(text, i)):
            i += 1
            while i < n and text[i] != char:
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return None
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in "}]":
            if char != stack.pop():
                return None
            if not stack:
                return i + 1
        i += 1
    return None


def _repair(span: str) -> str:
    """Rewrite near-JSON: single-quoted strings, trailing commas, bare keys, Python words."""
    out: list[str] = []
    i = 0
    n = len(span)
    while i < n:
        char = span[i]
        if char == '"' or (char == "'" and _starts_string(span, i)):
            j = i + 1
            body: list[str] = []
            while j < n and span[j] != char:
                if span[j] == "\\" and j + 1 < n:
                    body.append(span[j : j + 2] if span[j + 1] != "'" else "'")
                    j += 2
                    continue
                body.append('\\"' if span[j] == '"' else span[j])
                j += 1
            out.append('"' + "".join(body) + '"')
            i = j + 1
        elif char == ",":
            j = i + 1
            while j < n and span[j] in " \t\r\n":
                j += 1
            if j < n and span[j] in "}]":
                i += 1  # a trailing comma
                continue
            out.append(char)
            i += 1
        elif (word := _IDENTIFIER.match(span, i)) is not None:
            text = word.group()
            j = word.end()
            while j < n and span[j] in " \t":
                j += 1
            if j < n and span[j] == ":" and text not in _LITERALS:
                out.append(json.dumps(text))
            else:
                out.append(_LITERALS.get(text, text))
            i = word.end()
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _loads(span: str) -> dict[str, Any] | list[Any] | None:
    for attempt in (span, None):
        try:
            value = json.loads(attempt if attempt is not None else _repair(span))
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict | list):
            return value
    return None


def _find_json(text: str) -> dict[str, Any] | list[Any] | None:
    text = text[:MAX_TEXT_CHARS]
    whole = _loads(text.strip()) if text.lstrip()[:1] in ("{", "[") else None
    if whole is not None:
        return whole
    best: dict[str, Any] | list[Any] | None = None
    best_length = 0
    i = 0
    budget = [_JSON_SCAN_BUDGET]
    while i < len(text) and budget[0] > 0:
        if text[i] not in _OPENERS:
            i += 1
            continue
        end = _span_end(text, i, budget)
        value = _loads(text[i:end]) if end is not None else None
        if value is not None and end is not None:
            if end - i > best_length:
                best, best_length = value, end - i
            i = end
        else:
            i += 1
    return best


def parse_json(text: str, *, stats: ParseStats | None = None) -> dict[str, Any] | list[Any] | None:
    """Find the JSON object or array in a model's answer.

    The answer may wrap it in a Markdown code fence or in prose. Each bracketed stretch is
    tried as JSON, then once more after safe repairs: trailing commas dropped,
    single-quoted strings (right after ``{ [ , :``) and bare keys double-quoted, Python's
    ``True``/``False``/``None`` written as JSON. When several stretches parse, the longest
    wins, so a citation such as "[1]" does not hide the real object.

    Args:
        text: The model's answer.
        stats: Where to count the attempt; :data:`DEFAULT_STATS` when None.

    Returns:
        The parsed object or array, or None when the text holds neither.
    """
    value: dict[str, Any] | list[Any] | None = None
    try:
        if isinstance(text, str):
            value = _find_json(text)
    except Exception:  # a parser of model text must never take a run down
        logger.debug("parse_json failed on %r", text, exc_info=True)
        value = None
    return _finish("json", value, text, stats, "no JSON object or array")
