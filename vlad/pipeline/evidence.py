"""Evidence: the detections of every scorer merged into events, each with what fired."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vlad.answer.explanation import Evidence, EvidenceItem
from vlad.types import Interval, ScoreTrack

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.scoring.memory import MemoryIndex

MEMORY_TRACK = "memory"
"""Name of the score track of a retrieval memory (it stands where a definition would)."""


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


def definition_item(text: str, score: float, refs: dict[str, tuple[str, str]]) -> EvidenceItem:
    """The evidence item of a definition that fired: a cited rule when it is a rule's text."""
    if text in refs:
        rule_id, rule_text = refs[text]
        return EvidenceItem("rule", rule_text, float(score), ref=rule_id)
    return EvidenceItem("definition", text, float(score))


def neighbour_items(memory: MemoryIndex, query: np.ndarray, count: int) -> list[EvidenceItem]:
    """The memory's nearest captions to a query embedding, as evidence items."""
    return [
        EvidenceItem("memory", n.text, float(n.similarity), label=n.label)
        for n in memory.explain(query, count)
    ]


def video_evidence(
    intervals: Sequence[Interval],
    fused: ScoreTrack,
    refs: dict[str, tuple[str, str]],
    *,
    gap_s: float,
    memory: MemoryIndex | None = None,
    memory_values: np.ndarray | None = None,
    frame_embeddings: np.ndarray | None = None,
    embedder: TextEmbedder | None = None,
    neighbours: int = 3,
) -> list[Evidence]:
    """One evidence per event: overlapping intervals of all scorers merged.

    Args:
        intervals: Every scorer's intervals.
        fused: The fused track (the event's peak is its maximum inside the event).
        refs: Definition text -> (rule id, rule text) for rules applied through CLIP.
        gap_s: Intervals at most this far apart join one event.
        memory: A retrieval memory, if any.
        memory_values: Its per-sample track, when it scored the frames.
        frame_embeddings: (N, D) frame embeddings, for the memory's neighbours at the peak.
        embedder: A text embedder of a memory that explains definitions by text.
        neighbours: Neighbours per event.

    Returns:
        The evidence, ``E1``, ``E2`` ... by start time.
    """
    evidence: list[Evidence] = []
    times = fused.times_s
    for number, (start, end, members) in enumerate(merge_spans(intervals, gap_s=gap_s), start=1):
        inside = np.flatnonzero((times >= start) & (times < end))
        if not len(inside):
            inside = np.array([int(np.argmin(np.abs(times - start)))])
        peak = int(inside[np.argmax(fused.values[inside])])
        best: dict[str, float] = {}
        for member in members:
            if member.definition is not None and member.definition != MEMORY_TRACK:
                best[member.definition] = max(best.get(member.definition, 0.0), member.peak_score)
        items = [
            definition_item(text, score, refs)
            for text, score in sorted(best.items(), key=lambda kv: -kv[1])
        ]
        memory_score = None
        if memory is not None and memory_values is not None and frame_embeddings is not None:
            memory_score = float(memory_values[peak])
            items.extend(neighbour_items(memory, frame_embeddings[peak], neighbours))
        elif memory is not None and best and embedder is not None:
            top = max(best, key=lambda k: best[k])
            items.extend(neighbour_items(memory, embedder.embed([top])[0], neighbours))
        top_definition = max(best, key=lambda k: best[k]) if best else MEMORY_TRACK
        evidence.append(
            Evidence(
                id=f"E{number}",
                interval=Interval(start, end, float(fused.values[peak]), top_definition),
                peak_time_s=float(times[peak]),
                items=tuple(items),
                memory_score=memory_score,
            )
        )
    return evidence
