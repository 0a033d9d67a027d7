"""The answer vlad gives about one image or video, and the checks that keep its words honest.

An :class:`Explanation` is built by :class:`vlad.pipeline.analyzer.Analyzer` from scores alone: the
verdict, the fused score track, the anomalous intervals, one keyframe per interval with its
heat map, and the evidence behind each interval (the definition that fired, retrieval-memory
neighbours, rules cited). Only its ``text`` may come from a language model, and that text
passes :func:`ground_text` first: a sentence that cites evidence that does not exist,
states a time (``m:ss``) that matches no interval, or contradicts the verdict is dropped;
when nothing useful is left, :func:`template_text` writes the text from the evidence.

This module needs numpy only, so that surfaces can read explanations without torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vlad.types import Interval, Label, ScoreTrack

EvidenceKind = Literal["definition", "rule", "memory", "image"]
MEDIA_KINDS = ("video", "image")

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


def clock(seconds: float) -> str:
    """``m:ss`` for a time in seconds (``h:mm:ss`` from an hour), rounded down."""
    total = max(0, math.floor(seconds + 1e-6))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def span(start_s: float, end_s: float) -> str:
    """``m:ss–m:ss`` covering ``[start_s, end_s)``: the end is rounded up to a whole second."""
    end = max(math.ceil(end_s - 1e-6), math.floor(start_s + 1e-6))
    return f"{clock(start_s)}–{clock(end)}"


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
class EvidenceItem:
    """One piece of evidence behind an interval (or an image).

    Attributes:
        kind: ``definition`` (a text definition that fired), ``rule`` (a rule applied
            through CLIP that fired), ``memory`` (a retrieval-memory neighbour) or
            ``image`` (the WinCLIP score of an image).
        text: The definition, the rule's text, or the neighbour caption.
        score: The definition's or rule's peak score in the interval, the neighbour's
            cosine similarity, or the image score.
        label: A memory neighbour's label (``normal`` or ``anomalous``).
        ref: A rule's id.
    """

    kind: EvidenceKind
    text: str
    score: float
    label: str | None = None
    ref: str | None = None

    def describe(self) -> str:
        """One phrase for texts and tables, e.g. ``definition "a fight" scored 0.82``."""
        if self.kind == "memory":
            return f'memory neighbour "{self.text}" ({self.label}, similarity {self.score:.2f})'
        if self.kind == "rule":
            return f'rule {self.ref} "{self.text}" scored {self.score:.2f}'
        if self.kind == "image":
            return f"{self.text} {self.score:.2f}"
        return f'definition "{self.text}" scored {self.score:.2f}'

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the item."""
        record: dict[str, Any] = {
            "kind": self.kind,
            "text": self.text,
            "score": round(float(self.score), 6),
        }
        if self.label is not None:
            record["label"] = self.label
        if self.ref is not None:
            record["ref"] = self.ref
        return record


@dataclass(frozen=True)
class Evidence:
    """Why one interval (or an anomalous image) was called anomalous.

    Attributes:
        id: ``E1``, ``E2`` ...: how texts cite it.
        interval: The interval (for an image, ``[0, 0]``).
        peak_time_s: Time of the highest fused score inside it.
        items: The definitions and rules that fired (highest first), then memory
            neighbours.
        memory_score: The retrieval-memory score at the peak, when a memory was used.
    """

    id: str
    interval: Interval
    peak_time_s: float
    items: tuple[EvidenceItem, ...]
    memory_score: float | None = None

    @property
    def score(self) -> float:
        """Peak fused score of the interval."""
        return float(self.interval.peak_score)

    @property
    def definition(self) -> str | None:
        """The definition (or rule text) that scored highest, if any fired."""
        fired = [i for i in self.items if i.kind in ("definition", "rule")]
        return max(fired, key=lambda i: i.score).text if fired else self.interval.definition

    def fired(self) -> tuple[EvidenceItem, ...]:
        """The definitions and rules that fired."""
        return tuple(i for i in self.items if i.kind in ("definition", "rule", "image"))

    def neighbours(self) -> tuple[EvidenceItem, ...]:
        """The memory neighbours."""
        return tuple(i for i in self.items if i.kind == "memory")

    def rules(self) -> tuple[EvidenceItem, ...]:
        """The rules cited."""
        return tuple(i for i in self.items if i.kind == "rule")

    def contains(self, time_s: float, *, tolerance_s: float = 0.0) -> bool:
        """Whether a time falls in the interval (widened by ``tolerance_s`` each side)."""
        return self.interval.start_s - tolerance_s <= time_s <= self.interval.end_s + tolerance_s

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the evidence."""
        record: dict[str, Any] = {
            "id": self.id,
            **self.interval.to_record(),
            "peak_time_s": round(self.peak_time_s, 3),
            "items": [i.to_record() for i in self.items],
        }
        if self.memory_score is not None:
            record["memory_score"] = round(float(self.memory_score), 6)
        return record


@dataclass(frozen=True)
class KeyFrame:
    """The peak frame of an interval (or the image itself) with its heat map.

    Attributes:
        evidence_id: The evidence it illustrates (None for a frame shown on request).
        frame_index: Original frame index (0 for an image).
        time_s: Its time in seconds.
        score: Fused score at that frame.
        definition: The definition the heat map shows.
        image: uint8 RGB pixels (H, W, 3).
        anomaly_map: (H, W) WinCLIP map at the frame's size, when computed.
        overlay: uint8 RGB heat-map overlay of the map on the frame, when computed.
    """

    evidence_id: str | None
    frame_index: int
    time_s: float
    score: float
    definition: str | None
    image: np.ndarray = field(repr=False, compare=False)
    anomaly_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    overlay: np.ndarray | None = field(default=None, repr=False, compare=False)

    def caption(self, kind: str = "video") -> str:
        """A short caption for galleries: id, time, score and definition."""
        where = f"{self.evidence_id} " if self.evidence_id else ""
        when = "" if kind == "image" else f"at {clock(self.time_s)} "
        what = f': "{self.definition}"' if self.definition else ""
        return f"{where}{when}score {self.score:.2f}{what}"

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the keyframe (without pixels)."""
        record: dict[str, Any] = {
            "evidence_id": self.evidence_id,
            "frame_index": self.frame_index,
            "time_s": round(self.time_s, 3),
            "score": round(float(self.score), 6),
            "definition": self.definition,
        }
        if self.anomaly_map is not None:
            record["map_max"] = round(float(self.anomaly_map.max()), 6)
        return record


@dataclass(frozen=True)
class Explanation:
    """Verdict, where, and why, for one image or video.

    Attributes:
        input: The file as given.
        kind: ``video`` or ``image``.
        verdict: ``anomalous`` or ``normal``, decided by the scores alone.
        score: Highest fused score (the WinCLIP score of an image).
        threshold: Score that opens an interval (or marks an image anomalous).
        low_threshold: Score that keeps an interval open.
        duration_s: Length of the video (0 for an image).
        definitions: The definitions scored (the user's, or the defaults; rule texts
            included).
        scene: The scene description given, if any.
        fused: The fused score track (one sample at 0 s for an image).
        tracks: One smoothed track per definition, then the memory's.
        intervals: Anomalous intervals, one per evidence, by start time.
        evidence: What fired in each interval.
        keyframes: The peak frame of each interval with its heat map (the image itself,
            with its full map, for an image).
        text: A short account of the evidence, checked by :func:`ground_text`.
        text_source: ``llm`` when the text is the model's (checked), ``template`` when it
            was built from the evidence.
        notes: Things a reader should know (decoding stopped early, memory skipped ...).
    """

    input: str
    kind: Literal["video", "image"]
    verdict: Label
    score: float
    threshold: float
    low_threshold: float
    duration_s: float
    definitions: tuple[str, ...]
    scene: str | None
    fused: ScoreTrack
    tracks: tuple[ScoreTrack, ...]
    intervals: tuple[Interval, ...]
    evidence: tuple[Evidence, ...]
    keyframes: tuple[KeyFrame, ...]
    text: str = ""
    text_source: Literal["llm", "template"] = "template"
    notes: tuple[str, ...] = ()

    @property
    def anomalous(self) -> bool:
        """Whether the verdict is ``anomalous``."""
        return self.verdict == "anomalous"

    def evidence_by_id(self, evidence_id: str) -> Evidence | None:
        """The evidence with this id (``E1``), or None."""
        wanted = evidence_id.strip().upper()
        return next((e for e in self.evidence if e.id == wanted), None)

    def evidence_at(self, time_s: float, *, tolerance_s: float = 0.0) -> Evidence | None:
        """The evidence whose interval holds a time (the highest-scoring one), or None."""
        found = [e for e in self.evidence if e.contains(time_s, tolerance_s=tolerance_s)]
        return max(found, key=lambda e: e.score) if found else None

    def scores_at(self, time_s: float) -> dict[str | None, float]:
        """Every track's score at a time (linear interpolation), fused under None."""
        scores: dict[str | None, float] = {None: _value_at(self.fused, time_s)}
        for track in self.tracks:
            scores[track.definition] = _value_at(track, time_s)
        return scores

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record of the explanation (no pixels, no raw tracks)."""
        record: dict[str, Any] = {
            "input": self.input,
            "kind": self.kind,
            "verdict": self.verdict,
            "score": round(float(self.score), 6),
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
            "duration_s": round(float(self.duration_s), 3),
            "definitions": list(self.definitions),
            "scene": self.scene,
            "intervals": [i.to_record() for i in self.intervals],
            "evidence": [e.to_record() for e in self.evidence],
            "keyframes": [k.to_record() for k in self.keyframes],
            "text": self.text,
            "text_source": self.text_source,
        }
        if self.notes:
            record["notes"] = list(self.notes)
        return record


def _value_at(track: ScoreTrack, time_s: float) -> float:
    if not len(track.values):
        return 0.0
    return float(np.interp(time_s, track.times_s, track.values))


# ----------------------------------------------------------------------- grounding


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


def evidence_line(evidence: Evidence, kind: str = "video") -> str:
    """One line of facts about an evidence, as given to models and shown to people."""
    parts = [i.describe() for i in evidence.fired()]
    if evidence.memory_score is not None:
        parts.append(f"memory score {evidence.memory_score:.2f}")
    parts.extend(i.describe() for i in evidence.neighbours())
    where = (
        "" if kind == "image" else f" {span(evidence.interval.start_s, evidence.interval.end_s)}"
    )
    peak = (
        "" if kind == "image" else f" (peak {evidence.score:.2f} at {clock(evidence.peak_time_s)})"
    )
    return f"[{evidence.id}]{where}{peak}: " + "; ".join(parts)


def facts(explanation: Explanation) -> list[str]:
    """The facts a model may use, one per line: verdict, then each evidence."""
    lines = [
        f"Verdict (decided by the scores): {explanation.verdict}; highest score "
        f"{explanation.score:.2f}, threshold {explanation.threshold:.2f}."
    ]
    if explanation.scene:
        lines.append(f"Scene: {explanation.scene}.")
    if explanation.kind == "video":
        lines.append(f"Video length: {clock(explanation.duration_s)}.")
    lines.extend(evidence_line(e, explanation.kind) for e in explanation.evidence)
    if not explanation.evidence:
        lines.append("No interval reached the threshold.")
    return lines


def template_text(explanation: Explanation) -> str:
    """The account of an explanation built from its evidence alone (no model).

    Args:
        explanation: The explanation.

    Returns:
        A few sentences; every time stated lies in an interval and every id cited exists.
    """
    if explanation.kind == "image":
        if not explanation.anomalous:
            return (
                f"Normal: the image scores {explanation.score:.2f}, below the threshold "
                f"{explanation.threshold:.2f}."
            )
        [evidence] = explanation.evidence[:1] or [None]
        detail = "; ".join(i.describe() for i in evidence.items) if evidence else ""
        where = " The heat map shows where." if explanation.keyframes else ""
        return (
            f"Anomalous [{evidence.id if evidence else 'E1'}]: the image scores "
            f"{explanation.score:.2f} (threshold {explanation.threshold:.2f}); {detail}.{where}"
        )
    if not explanation.anomalous:
        top = _top_definition(explanation)
        about = f' ("{top}")' if top else ""
        return (
            f"Normal: no score reached the threshold {explanation.threshold:.2f}; the "
            f"highest was {explanation.score:.2f}{about}."
        )
    count = len(explanation.evidence)
    lines = [f"Anomalous: {count} interval{'s' if count != 1 else ''} found."]
    for evidence in explanation.evidence:
        lines.append(_evidence_sentence(evidence))
    return " ".join(lines)


def _evidence_sentence(evidence: Evidence) -> str:
    fired = evidence.fired()
    what = ", ".join(
        (f'rule {i.ref} "{i.text}"' if i.kind == "rule" else f'"{i.text}"') + f" ({i.score:.2f})"
        for i in fired
    )
    sentence = (
        f"[{evidence.id}] {span(evidence.interval.start_s, evidence.interval.end_s)}: "
        f"{what or 'the retrieval memory'} fired, peak {evidence.score:.2f} at "
        f"{clock(evidence.peak_time_s)}"
    )
    neighbours = evidence.neighbours()
    if neighbours:
        near = "; ".join(f'"{n.text}" ({n.label}, {n.score:.2f})' for n in neighbours[:3])
        sentence += f"; nearest memory captions: {near}"
    return sentence + "."


def _top_definition(explanation: Explanation) -> str | None:
    best: tuple[float, str | None] = (-1.0, None)
    for track in explanation.tracks:
        if len(track.values) and float(track.values.max()) > best[0]:
            best = (float(track.values.max()), track.definition)
    return best[1]


def merge_spans(
    intervals: Sequence[Interval], *, gap_s: float = 0.0
) -> list[tuple[float, float, list[Interval]]]:
    """Group overlapping (or nearly touching) intervals into events.

    Args:
        intervals: Intervals from any scorers, possibly overlapping.
        gap_s: Intervals at most this far apart join one event.

    Returns:
        ``(start_s, end_s, members)`` per event, by start time.
    """
    events: list[tuple[float, float, list[Interval]]] = []
    for interval in sorted(intervals, key=lambda i: (i.start_s, i.end_s)):
        if events and interval.start_s - events[-1][1] <= gap_s:
            start, end, members = events[-1]
            members.append(interval)
            events[-1] = (start, max(end, interval.end_s), members)
        else:
            events.append((interval.start_s, interval.end_s, [interval]))
    return events
