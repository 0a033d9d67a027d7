"""The answer vlad gives about one image or video: records only.

An :class:`Explanation` is built by the pipeline (:class:`vlad.pipeline.Pipeline`) from
scores alone: the verdict, the fused and per-scorer score tracks, the anomalous intervals,
one keyframe per interval with its heat map, and the evidence behind each interval (the
definition that fired, retrieval-memory neighbours, rules cited). Only its ``text`` may come
from a language model, and that text passes :func:`vlad.answer.grounding.ground_text` first;
:func:`vlad.answer.text.template_text` writes it from the evidence otherwise. A failed input
is an explanation too (``status == "failed"``, with its ``error``).

This module needs numpy only, so that surfaces can read explanations without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vlad.types import Interval, Label, ScoreTrack, Segment
from vlad.utils.clock import clock

EvidenceKind = Literal["definition", "rule", "memory", "image"]
Verdict = Label | Literal["failed"]
MEDIA_KINDS = ("video", "image")


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
class Detection:
    """An interval one scorer found (a definition's track, a rule's, or the memory's).

    Intervals of different scorers may overlap; :attr:`Explanation.intervals` holds the
    merged events. This is what ``vlad detect --json`` lists under ``intervals``.

    Attributes:
        interval: The interval, naming the definition (or ``memory``) that fired.
        neighbors: With a retrieval memory: its nearest captions to the interval's mean
            frame embedding (records with ``to_record()``); None without a memory.
        citation: With a rule set: the rule the interval cites (a
            :class:`~vlad.reasoning.rules.RuleCitation`), or None.
    """

    interval: Interval
    neighbors: tuple[Any, ...] | None = None
    citation: Any | None = None

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record: the interval, then ``neighbors`` and ``rule``."""
        record = self.interval.to_record()
        if self.neighbors is not None:
            record["neighbors"] = [n.to_record() for n in self.neighbors]
        if self.citation is not None:
            record["rule"] = self.citation.to_record()
        return record


@dataclass(frozen=True)
class LocalizedFrame:
    """Where in the frame: the WinCLIP window map of a detection's peak frame.

    Attributes:
        interval: The interval localized.
        frame_index: Original index of the peak frame.
        time_s: Its time in seconds.
        anomaly_map: (H, W) map at the frame's size.
        overlay_path: The overlay PNG written, if any.
    """

    interval: Interval
    frame_index: int
    time_s: float
    anomaly_map: np.ndarray = field(repr=False)
    overlay_path: Path | None = None

    def to_record(self) -> dict[str, Any]:
        """Return the JSON-ready record (``maps`` of ``vlad detect --json``)."""
        entry: dict[str, Any] = {
            "start_s": round(self.interval.start_s, 3),
            "frame_index": self.frame_index,
            "time_s": round(self.time_s, 3),
            "map_max": round(float(self.anomaly_map.max()), 6),
        }
        if self.overlay_path is not None:
            entry["overlay"] = str(self.overlay_path)
        return entry


@dataclass(frozen=True)
class Explanation:
    """Verdict, where, and why, for one image or video (or why it could not be read).

    Attributes:
        input: The file as given.
        kind: ``video`` or ``image`` (for a failure, what the input looked like).
        verdict: ``anomalous`` or ``normal``, decided by the scores alone; ``failed`` when
            the input could not be analysed (then :attr:`error` says why).
        score: Highest fused score (the WinCLIP score of an image).
        threshold: Score that opens an interval (or marks an image anomalous).
        low_threshold: Score that keeps an interval open.
        duration_s: Length of the video (0 for an image).
        definitions: The definitions scored (the user's, or the defaults; rule texts
            included; ``memory`` for a memory's track).
        scene: The scene description given, if any.
        fused: The fused score track (one sample at 0 s for an image).
        tracks: One smoothed track per scorer (definitions, rules, then the memory's).
        intervals: Anomalous events, one per evidence, by start time (overlapping
            detections of all scorers merged).
        evidence: What fired in each event.
        keyframes: The peak frame of each event with its heat map (the image itself,
            with its full map, for an image).
        text: A short account of the evidence, checked by
            :func:`~vlad.answer.grounding.ground_text`.
        text_source: ``llm`` when the text is the model's (checked), ``template`` when it
            was built from the evidence.
        notes: Things a reader should know (decoding stopped early, memory skipped ...).
        status: ``ok``, or ``failed`` for an input that could not be analysed.
        error: Why it failed, in one sentence (None when ``ok``).
        detections: Each scorer's intervals, before merging (with memory neighbours and
            rule citations).
        segments: Fixed-length segments of a video with their fused scores.
        maps: Peak-frame WinCLIP maps of the detections (videos).
        fps: The video's frame rate.
        frame_count: Its number of frames.
        sample_fps: Frames per second scored (None: every frame).
        height: Height of the image or video frames, in pixels.
        width: Width, in pixels.
        stopped_early: Why decoding stopped before the end of a video, or None.
        perception: With ``--perception every|budget``: the frames a vision-language
            model described and how each was judged against the rules (a JSON-ready
            record: mode, frames sampled and described, VLM calls per sampled frame, and
            per frame its verdict, score, cited rules, clause and reason), else None.
    """

    input: str
    kind: Literal["video", "image"]
    verdict: Verdict
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
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    detections: tuple[Detection, ...] = ()
    segments: tuple[Segment, ...] = ()
    maps: tuple[LocalizedFrame, ...] = ()
    fps: float | None = None
    frame_count: int | None = None
    sample_fps: float | None = None
    height: int | None = None
    width: int | None = None
    stopped_early: str | None = None
    perception: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def failure(
        cls, input: str, error: str, *, kind: Literal["video", "image"] = "image"
    ) -> Explanation:
        """The record of an input that could not be analysed.

        Args:
            input: The input as given.
            error: Why, in one sentence.
            kind: What the input looked like.

        Returns:
            An explanation with ``status == "failed"`` and no scores.
        """
        empty = ScoreTrack(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0), None)
        return cls(
            input=input,
            kind=kind,
            verdict="failed",
            score=0.0,
            threshold=0.0,
            low_threshold=0.0,
            duration_s=0.0,
            definitions=(),
            scene=None,
            fused=empty,
            tracks=(),
            intervals=(),
            evidence=(),
            keyframes=(),
            status="failed",
            error=error,
        )

    @property
    def ok(self) -> bool:
        """Whether the input was analysed (``status == "ok"``)."""
        return self.status == "ok"

    @property
    def anomalous(self) -> bool:
        """Whether the verdict is ``anomalous``."""
        return self.verdict == "anomalous"

    @property
    def label(self) -> str:
        """The verdict under the name ``vlad detect`` has always printed."""
        return self.verdict

    @property
    def anomaly_map(self) -> np.ndarray | None:
        """An image's full-size WinCLIP map (the first keyframe's), or None."""
        if self.kind != "image" or not self.keyframes:
            return None
        return self.keyframes[0].anomaly_map

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
        """Return the JSON-ready record (no pixels, no raw tracks).

        The fields of ``vlad detect --json`` are kept: ``input``, ``score``, ``label``
        (same as ``verdict``), ``threshold``, ``intervals`` (each scorer's, with
        ``neighbors`` and ``rule``), for an image ``height``/``width``/``map_max``, for a
        video ``duration_s``, ``fps``, ``frame_count``, ``sample_fps``, ``segments`` and
        ``maps``. A failed input's record is ``{input, status, error}``.
        """
        if not self.ok:
            return {"input": self.input, "status": self.status, "error": self.error}
        intervals = self.detections if self.detections else self.intervals
        record: dict[str, Any] = {
            "input": self.input,
            "kind": self.kind,
            "status": self.status,
            "verdict": self.verdict,
            "label": self.verdict,
            "score": round(float(self.score), 6),
            "threshold": self.threshold,
            "low_threshold": self.low_threshold,
            "duration_s": round(float(self.duration_s), 3),
        }
        if self.height is not None and self.width is not None:
            record["height"], record["width"] = self.height, self.width
        if self.kind == "image":
            anomaly_map = self.anomaly_map
            if anomaly_map is not None:
                record["map_max"] = round(float(anomaly_map.max()), 6)
        else:
            record["fps"] = None if self.fps is None else round(self.fps, 3)
            record["frame_count"] = self.frame_count
            record["sample_fps"] = self.sample_fps
        record.update(
            {
                "definitions": list(self.definitions),
                "scene": self.scene,
                "intervals": [i.to_record() for i in intervals],
                "evidence": [e.to_record() for e in self.evidence],
                "keyframes": [k.to_record() for k in self.keyframes],
                "text": self.text,
                "text_source": self.text_source,
            }
        )
        if self.kind == "video":
            record["segments"] = [s.to_record() for s in self.segments]
        if self.maps:
            record["maps"] = [m.to_record() for m in self.maps]
        if self.stopped_early:
            record["stopped_early"] = self.stopped_early
        if self.notes:
            record["notes"] = list(self.notes)
        if self.perception is not None:
            record["perception"] = self.perception
        return record


def _value_at(track: ScoreTrack, time_s: float) -> float:
    if not len(track.values):
        return 0.0
    return float(np.interp(time_s, track.times_s, track.values))
