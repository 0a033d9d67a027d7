"""Follow-up questions on an analysis, answered from its cached embeddings.

A new definition is scored without decoding the video again (only the peak frames are read
for their heat maps), or the frame at a time is read. Called through
:class:`vlad.pipeline.Pipeline`, which serialises model calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vlad.answer.explanation import KeyFrame
from vlad.errors import InputError
from vlad.pipeline.analysis import Analysis, DefinitionResult
from vlad.pipeline.evidence import MEMORY_TRACK
from vlad.pipeline.keyframes import keyframe
from vlad.types import Interval, ScoreTrack

if TYPE_CHECKING:
    from vlad.pipeline.facade import Pipeline


class _StillFrame:
    index = 0
    time_s = 0.0


def score_definition(pipe: Pipeline, analysis: Analysis, definition: str) -> DefinitionResult:
    """Score a new definition on the cached embeddings (no video decoding).

    Only the peak frame of each interval found is read again, for its heat map.

    Args:
        pipe: The pipeline (its CLIP and keyframe budget).
        analysis: A previous analysis.
        definition: What to look for ("a person riding a bicycle").

    Returns:
        The definition's track, intervals and keyframes.
    """
    text = " ".join(definition.split())
    if not text:
        raise InputError("The definition is empty; say what to look for.")
    if text in analysis.queries:
        return analysis.queries[text]
    detector = analysis.detector
    if analysis.encoded is None:
        result = _score_image_definition(pipe, analysis, text)
    else:
        scored = detector.score(analysis.encoded, [text], name=str(analysis.source))
        track = scored.tracks[0]
        intervals = tuple(i for i in scored.intervals if i.definition == text)
        result = DefinitionResult(
            definition=text,
            track=track,
            intervals=intervals,
            keyframes=tuple(_definition_keyframes(pipe, analysis, track, intervals, text)),
            score=float(track.values.max()) if len(track.values) else 0.0,
            threshold=detector.config.threshold,
        )
    analysis.queries[text] = result
    return result


def _definition_keyframes(
    pipe: Pipeline,
    analysis: Analysis,
    track: ScoreTrack,
    intervals: Sequence[Interval],
    definition: str,
) -> list[KeyFrame]:
    from vlad.media.video import open_video

    encoded = analysis.encoded
    assert encoded is not None
    keyframes: list[KeyFrame] = []
    if not intervals:
        return keyframes
    with open_video(encoded.info.source, frames_fps=encoded.frames_fps) as reader:
        for interval in list(intervals)[: pipe.max_keyframes]:
            inside = np.flatnonzero(
                (track.times_s >= interval.start_s) & (track.times_s < interval.end_s)
            )
            if not len(inside):
                continue
            peak = int(inside[np.argmax(track.values[inside])])
            frame = reader.read_frame(int(track.frame_indices[peak]))
            keyframes.append(
                keyframe(
                    analysis.detector,
                    frame.image,
                    definition,
                    None,
                    frame,
                    float(track.values[peak]),
                )
            )
    return keyframes


def _score_image_definition(pipe: Pipeline, analysis: Analysis, text: str) -> DefinitionResult:
    assert analysis.image is not None
    if analysis.image_embedding is None:
        analysis.image_embedding = pipe.image_embedding(analysis.image).cpu()
    detector = analysis.detector
    probability = float(detector.scorer.score(analysis.image_embedding, [text])[0, 0])
    zero = np.zeros(1)
    track = ScoreTrack(zero, np.zeros(1, dtype=np.int64), np.array([probability]), text)
    threshold = float(analysis.explanation.threshold)
    found = probability >= threshold
    intervals = (Interval(0.0, 0.0, probability, text),) if found else ()
    still = keyframe(detector, np.asarray(analysis.image), text, None, _StillFrame(), probability)
    return DefinitionResult(
        definition=text,
        track=track,
        intervals=intervals,
        keyframes=(still,) if found else (),
        score=probability,
        threshold=threshold,
    )


def frame_at(analysis: Analysis, time_s: float) -> KeyFrame | None:
    """The sampled frame nearest a time, with the heat map of its top definition.

    Args:
        analysis: A previous analysis.
        time_s: The time asked about.

    Returns:
        The frame, or None for an image or a time outside the video.
    """
    encoded = analysis.encoded
    if encoded is None or not len(encoded.times_s):
        return None
    if time_s < 0 or time_s > analysis.explanation.duration_s + 0.5:
        return None
    from vlad.media.video import open_video

    explanation = analysis.explanation
    scores = explanation.scores_at(time_s)
    named = {k: v for k, v in scores.items() if k is not None and k != MEMORY_TRACK}
    definition = max(named, key=lambda k: named[k]) if named else None
    sample = int(np.argmin(np.abs(encoded.times_s - time_s)))
    evidence = explanation.evidence_at(time_s)
    with open_video(encoded.info.source, frames_fps=encoded.frames_fps) as reader:
        frame = reader.read_frame(int(encoded.frame_indices[sample]))
    return keyframe(
        analysis.detector,
        frame.image,
        definition,
        evidence.id if evidence else None,
        frame,
        scores[None],
    )
