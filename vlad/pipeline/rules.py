"""Rules applied to a video through CLIP, and the rule each interval cites.

Without a vision-language model, rules are scored by the text-defined CLIP scorer: each
anomaly rule's text is a definition and the normal rules are the normal descriptions
(:func:`rules_video_config`). Every anomalous interval cites the rule whose definition
fired (:class:`~vlad.reasoning.rules.RuleCitation`). With a captioner, the interval's
peak frame is described by the vision-language model and the caption is the citation's
evidence; the frame comes from the copies kept while the video was decoded
(:class:`~vlad.reasoning.perception.FrameKeeper`), not from decoding it again. To describe
sampled frames and judge them against the rules instead (``--perception every|budget``),
see :mod:`vlad.pipeline.perception_stage`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vlad.config import VideoConfig
from vlad.pipeline.video import VideoResult
from vlad.reasoning.perception import FrameCaptioner, FrameKeeper
from vlad.reasoning.rules import Rule, RuleCitation, RuleSet


def rules_video_config(config: VideoConfig, rules: RuleSet) -> VideoConfig:
    """The video settings with the rules as definitions and normal descriptions.

    Anomaly rules' texts (each once, in order) come first, then the config's own
    definitions; normal rules' texts join the config's normal descriptions (when there are
    none, the scene prompts' defaults stay).

    Args:
        config: The settings from the command line.
        rules: The rule set.

    Returns:
        New settings.
    """
    definitions = tuple(dict.fromkeys([*(r.text for r in rules.anomaly()), *config.definitions]))
    normal = tuple(dict.fromkeys([*(r.text for r in rules.normal()), *config.normal]))
    return replace(config, definitions=definitions, normal=normal)


def rule_for_definition(rules: RuleSet) -> dict[str, Rule]:
    """Definition text -> the first anomaly rule with that text."""
    found: dict[str, Rule] = {}
    for rule in rules.anomaly():
        found.setdefault(rule.text, rule)
    return found


def peak_frames(result: VideoResult) -> list[tuple[int, float] | None]:
    """(frame index, time) of each interval's highest score on its definition's track."""
    peaks: list[tuple[int, float] | None] = []
    tracks = {t.definition: t for t in result.tracks}
    for interval in result.intervals:
        track = tracks.get(interval.definition)
        if track is None:
            peaks.append(None)
            continue
        inside = np.flatnonzero(
            (track.times_s >= interval.start_s) & (track.times_s < interval.end_s)
        )
        if not len(inside):
            peaks.append(None)
            continue
        peak = inside[int(np.argmax(track.values[inside]))]
        peaks.append((int(track.frame_indices[peak]), float(track.times_s[peak])))
    return peaks


def cite_rules(
    result: VideoResult,
    rules: RuleSet,
    *,
    captioner: FrameCaptioner | None = None,
    keeper: FrameKeeper | None = None,
    frames_fps: float | None = None,
) -> tuple[RuleCitation | None, ...]:
    """The rule each interval cites, with its peak frame and, given a captioner, a caption.

    Args:
        result: A scored video whose definitions include the rules' texts.
        rules: The rule set.
        captioner: Describes each interval's peak frame (None: no captions).
        keeper: Frames kept while the video was decoded, so they are not decoded again.
        frames_fps: The frame rate of a frame folder, to read frames the keeper lacks.

    Returns:
        One citation per interval, in interval order (None where no rule fired, e.g. a
        retrieval memory's track).
    """
    by_text = rule_for_definition(rules)
    peaks = peak_frames(result)
    captions: dict[int, str] = {}
    if captioner is not None:
        wanted = sorted(
            {
                peak[0]
                for interval, peak in zip(result.intervals, peaks, strict=True)
                if peak is not None and interval.definition in by_text
            }
        )
        if wanted:
            described = captioner.caption_frames(
                result.info.source, wanted, keeper=keeper, frames_fps=frames_fps
            )
            captions = {c.frame_index: c.text for c in described if c.frame_index is not None}
    citations: list[RuleCitation | None] = []
    for interval, peak in zip(result.intervals, peaks, strict=True):
        rule = by_text.get(interval.definition or "")
        if rule is None:
            citations.append(None)
            continue
        if peak is None:
            citations.append(RuleCitation.of(rule))
            continue
        citations.append(
            RuleCitation.of(
                rule, frame_index=peak[0], time_s=peak[1], caption=captions.get(peak[0])
            )
        )
    return tuple(citations)
