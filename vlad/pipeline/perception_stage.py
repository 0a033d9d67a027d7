"""The rule loop on videos: frames described by a VLM, judged against rules, fused with CLIP.

AnomalyRuler's perception and deduction, on the video pipeline's single decoding pass:

1. **Frames.** Frames are sampled at ``fps`` (:func:`perception_frames`): the CLIP's
   sampled frames when ``fps`` is at most the CLIP's rate (their pixels were kept while
   decoding, so nothing is decoded twice), else the video's own frames.
2. **Which are described.** ``every``: all of them. ``budget`` (:func:`budget_plan`):
   the frames are cut into runs where the frame's CLIP embedding and the fused CLIP/memory
   track change most, cuts next to the threshold first; the middle frame of each run
   is described and its description holds over the run. At most ``budget`` VLM calls per
   sampled frame (at least one frame is described).
3. **Deduction.** The descriptions go through :class:`~vlad.reasoning.deduction.RuleDeducer`
   with the :class:`~vlad.config.DeductionConfig` defaults, as ``vlad eval captions`` judges
   captions, except its smoothing in caption frames: the per-frame rule scores are smoothed
   in seconds with the video's own smoothing (:func:`vlad.scoring.temporal.gaussian_smooth`),
   so that the track means the same at any ``fps``.
4. **Track, intervals, citations.** The smoothed scores are the track
   :data:`PERCEPTION_TRACK`; it is cut into intervals with the video's thresholds, each
   named after the anomaly rule of its peak frame and citing that rule with the clause,
   the deduction's reason and the caption. The track joins the CLIP tracks, and the fused
   track is their maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.config import PerceptionConfig, VideoConfig
from vlad.errors import ConfigError
from vlad.pipeline.intervals import cut_intervals
from vlad.pipeline.rules import cite_rules
from vlad.pipeline.video import EncodedVideo, VideoResult
from vlad.reasoning.rules import RuleCitation
from vlad.scoring import temporal
from vlad.types import Interval, ScoreTrack

if TYPE_CHECKING:
    from vlad.reasoning.deduction import Deduction, RuleDeducer
    from vlad.reasoning.perception import FrameCaptioner, FrameKeeper
    from vlad.reasoning.rules import RuleSet

PERCEPTION_TRACK = "rules: frame descriptions"
"""Name of the track of the rule scores of the described frames (stands where a definition
would, like the memory's track)."""
NEAR_THRESHOLD = 0.05
"""Scale (in score units) of "near the threshold" when budget cuts are ranked."""


def check_perception(config: PerceptionConfig, *, captioner: Any, rules: Any) -> None:
    """Refuse a perception mode that describes frames without a VLM or without rules.

    Args:
        config: The perception settings.
        captioner: The frame captioner, or None.
        rules: The rule set, or None.

    Raises:
        ConfigError: One sentence naming what to add.
    """
    if not config.describes_frames:
        return
    if captioner is None:
        raise ConfigError(
            f"perception '{config.mode}' describes frames with a vision-language model; "
            "pass captioner.",
            param="captioner",
        )
    if rules is None:
        raise ConfigError(
            f"perception '{config.mode}' judges frame descriptions against rules; pass rules.",
            param="rules",
        )


def perception_frames(encoded: EncodedVideo, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The frames sampled for description at ``fps``: original indices and times.

    One frame per ``1 / fps`` seconds, the nearest to each step: among the CLIP's sampled
    frames when ``fps`` is at most their rate (so the kept pixels serve), else among all
    of the video's frames.

    Args:
        encoded: The encoded video.
        fps: Frames per second to describe.

    Returns:
        (indices, times), increasing, without repeats.
    """
    if encoded.sample_fps is None or fps <= encoded.sample_fps or not len(encoded.frame_times_s):
        indices, times = encoded.frame_indices, encoded.times_s
    else:
        times = np.asarray(encoded.frame_times_s, dtype=np.float64)
        indices = np.arange(len(times), dtype=np.int64)
    if not len(times):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    start, end = float(times[0]), max(float(encoded.duration_s), float(times[-1]))
    grid = start + np.arange(0, max(1, math.ceil((end - start) * fps - 1e-9))) / fps
    grid = grid[grid <= float(times[-1]) + 0.5 / fps]
    after = np.clip(np.searchsorted(times, grid), 0, len(times) - 1)
    before = np.clip(after - 1, 0, len(times) - 1)
    nearest = np.where(np.abs(times[before] - grid) <= np.abs(times[after] - grid), before, after)
    chosen = np.unique(nearest)
    return np.asarray(indices)[chosen].astype(np.int64), np.asarray(times)[chosen].astype(float)


def budget_calls(frames: int, budget: float) -> int:
    """VLM calls allowed for ``frames`` sampled frames: ``floor(budget * frames)``, at least 1.

    >>> budget_calls(32, 0.1), budget_calls(8, 0.1), budget_calls(5, 1.0)
    (3, 1, 5)
    """
    if frames <= 0:
        return 0
    return min(frames, max(1, math.floor(budget * frames + 1e-9)))


def budget_plan(
    values: np.ndarray,
    *,
    threshold: float,
    budget: float,
    embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """Which frame's description each sampled frame takes, within a call budget.

    The frames are cut into ``k = budget_calls(n, budget)`` runs where they change most
    between neighbours: the change of the frame's CLIP embedding plus half the change of
    the fused CLIP/memory track (each scaled by its largest value; the track is smoothed,
    so it says near which frame the picture changed, the embedding on which), raised by
    half when either neighbour is near the threshold. Each cut splits the run whose largest
    change times its length is greatest (strong changes first, no long stretch left with
    one description). The middle frame of each run is described.

    Args:
        values: (n,) the fused CLIP/memory track at the sampled frames.
        threshold: The score that opens an interval.
        budget: Most calls per sampled frame.
        embeddings: (n, D) the frames' CLIP embeddings, or None.

    Returns:
        (n,) for each frame, the position of the described frame it takes its description
        from (a described frame takes its own).

    >>> budget_plan(np.array([0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1]),
    ...             threshold=0.5, budget=0.3).tolist()
    [1, 1, 1, 4, 4, 4, 4, 8, 8, 8]
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    calls = budget_calls(n, budget)
    if calls >= n:
        return np.arange(n)
    change = np.zeros(n)
    if n > 1:
        steps = np.abs(np.diff(values))
        scaled = steps / steps.max() if steps.max() > 0 else steps
        if embeddings is not None and len(embeddings) == n:
            # The embedding is not smoothed: it says on which frame the picture changed,
            # where the smoothed track only says near which.
            units = np.asarray(embeddings, dtype=np.float64)
            units = units / np.maximum(np.linalg.norm(units, axis=1, keepdims=True), 1e-12)
            moved = 1.0 - np.sum(units[1:] * units[:-1], axis=1)
            moved = moved / moved.max() if moved.max() > 0 else moved
            scaled = moved + 0.5 * scaled
        near = np.exp(-np.abs(values - threshold) / NEAR_THRESHOLD)
        change[1:] = scaled * (1.0 + 0.5 * np.maximum(near[1:], near[:-1]))
    cuts = _split(change, calls)
    held = np.empty(n, dtype=np.int64)
    for start, stop in zip([0, *cuts], [*cuts, n], strict=True):
        held[start:stop] = start + (stop - start - 1) // 2
    return held


def _split(change: np.ndarray, runs: int) -> list[int]:
    """Cut positions making at most ``runs`` runs, strongest changes first.

    Each cut splits the run where the largest change times the run's length is greatest,
    so that cuts go to strong changes but do not pile up next to each other and no stretch
    is left long and undescribed.
    """
    spans = [(0, len(change))]
    cuts: list[int] = []
    for _ in range(runs - 1):
        best: tuple[float, int, int] | None = None
        for number, (start, stop) in enumerate(spans):
            if stop - start < 2:
                continue
            i = start + 1 + int(np.argmax(change[start + 1 : stop]))
            score = float(change[i]) * (stop - start)
            if change[i] > 0 and (best is None or score > best[0]):
                best = (score, number, i)
        if best is None:
            break
        _, number, i = best
        start, stop = spans.pop(number)
        spans[number:number] = [(start, i), (i, stop)]
        cuts.append(i)
    return sorted(cuts)


@dataclass(frozen=True)
class PerceivedVideo:
    """What the rule loop saw and decided on one video.

    Attributes:
        mode: ``every`` or ``budget``.
        fps: Frames per second sampled for description.
        budget: The call budget (``budget`` mode), else None.
        frame_indices: (n,) original index of each sampled frame.
        times_s: (n,) their times.
        held: (n,) position of the described frame whose description each frame takes.
        captions: Position of a described frame -> its description.
        deductions: The deduction of each sampled frame.
        track: The smoothed rule-score track (:data:`PERCEPTION_TRACK`).
        intervals: The track's intervals, each named after the anomaly rule it cites.
        citations: One citation per interval (None where no anomaly rule was matched).
        sent: Frames sent to the model (the others came from the caption cache).
        embedder: The deduction's text embedder.
    """

    mode: str
    fps: float
    budget: float | None
    frame_indices: np.ndarray
    times_s: np.ndarray
    held: np.ndarray
    captions: dict[int, str]
    deductions: tuple[Deduction, ...]
    track: ScoreTrack
    intervals: tuple[Interval, ...]
    citations: tuple[RuleCitation | None, ...]
    sent: int = 0
    embedder: str = ""

    @property
    def sampled(self) -> int:
        """Frames sampled."""
        return len(self.frame_indices)

    @property
    def described(self) -> int:
        """Frames described by the VLM (calls asked, cached answers included)."""
        return len(self.captions)

    @property
    def calls_per_frame(self) -> float:
        """VLM calls per sampled frame."""
        return self.described / self.sampled if self.sampled else 0.0

    def note(self) -> str:
        """One sentence for the explanation's notes."""
        held = (
            "; the other frames hold the description of their run's described frame"
            if self.described < self.sampled
            else ""
        )
        return (
            f"A vision-language model described {self.described} of {self.sampled} frames "
            f"sampled at {self.fps:g} fps ({self.calls_per_frame:.3f} calls per sampled "
            f"frame, {self.sent} sent to the model){held}."
        )

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record (``perception`` of an explanation)."""
        frames = []
        normal_rules: dict[str, int] = {}
        scene_only = 0
        for k, deduction in enumerate(self.deductions):
            source = int(self.held[k])
            entry: dict[str, Any] = {
                "frame_index": int(self.frame_indices[k]),
                "time_s": round(float(self.times_s[k]), 3),
                "described": source == k,
                "score": round(float(self.track.values[k]), 4),
                "verdict": deduction.verdict,
                "rules": list(deduction.rules),
                "clause": deduction.clause,
                "reason": deduction.reason,
            }
            if source == k:
                entry["caption"] = self.captions[k]
            else:
                entry["held_from"] = int(self.frame_indices[source])
            if deduction.verdict == "normal":
                for rule in deduction.rules:
                    normal_rules[rule] = normal_rules.get(rule, 0) + 1
                scene_only += not deduction.rules
            frames.append(entry)
        record: dict[str, Any] = {
            "mode": self.mode,
            "fps": self.fps,
            "track": PERCEPTION_TRACK,
            "frames": self.sampled,
            "described": self.described,
            "vlm_calls": self.described,
            "sent_to_model": self.sent,
            "vlm_calls_per_frame": round(self.calls_per_frame, 4),
            "embedder": self.embedder,
            "normal_rules": normal_rules,
            "normal_by_scene": scene_only,
            "frame_judgements": frames,
        }
        if self.budget is not None:
            record["budget"] = self.budget
        return record


def build_deducer(rules: RuleSet, config: PerceptionConfig, embedder: Any) -> RuleDeducer:
    """The deducer of ``vlad eval captions`` (DeductionConfig defaults), unsmoothed.

    Its smoothing counts caption frames; on a video the rule scores are smoothed in seconds
    instead (:func:`perceive_video`).

    Raises:
        ConfigError: The rule set has no anomaly rule.
    """
    from vlad.config.reasoning import DeductionConfig
    from vlad.reasoning.deduction import RuleDeducer

    return RuleDeducer.from_config(rules, replace(DeductionConfig(), smooth=0.0), embedder=embedder)


def perceive_video(
    result: VideoResult,
    encoded: EncodedVideo,
    rules: RuleSet,
    *,
    captioner: FrameCaptioner,
    deducer: RuleDeducer,
    config: PerceptionConfig,
    video: VideoConfig,
    keeper: FrameKeeper | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[VideoResult, PerceivedVideo]:
    """Describe sampled frames, judge them against the rules, and fuse the rule track.

    Args:
        result: The video scored by CLIP (and a memory).
        encoded: Its encoded frames.
        rules: The rule set.
        captioner: Describes frames (batched, cached per frame).
        deducer: From :func:`build_deducer`.
        config: Mode, fps and budget.
        video: The video settings (smoothing, thresholds, merging).
        keeper: Frames kept while decoding, so that they are not decoded again.
        progress: Called with ``(frames described, frames to describe)`` as the captioner
            goes: once at the start for cached captions, then after each ``chat()`` batch.

    Returns:
        The result with the rule track, its intervals (with citations) and the new fused
        track, segments and frame scores; and what the loop saw.
    """
    indices, times = perception_frames(encoded, config.fps)
    n = len(indices)
    fused_here = temporal.scores_at(result.fused.times_s, result.fused.values, times)
    if config.mode == "budget":
        embeddings = None
        if len(encoded.times_s):
            last = len(encoded.times_s) - 1
            positions = np.clip(np.searchsorted(encoded.times_s, times), 0, last)
            embeddings = encoded.embeddings.float().numpy()[positions]
        held = budget_plan(
            fused_here, threshold=video.threshold, budget=config.budget, embeddings=embeddings
        )
    else:
        held = np.arange(n)
    described = sorted({int(p) for p in held})
    before = captioner.captioned
    captions_list = captioner.caption_frames(
        result.info.source,
        [int(indices[p]) for p in described],
        keeper=keeper,
        frames_fps=encoded.frames_fps,
        progress=progress,
    )
    captions = {p: c.text for p, c in zip(described, captions_list, strict=True)}
    descriptions = [captions[int(held[k])] for k in range(n)]
    [deductions] = deducer.deduce([descriptions])
    raw = np.array([d.score for d in deductions], dtype=np.float64)
    smoothed = temporal.gaussian_smooth(times, raw, video.smoothing_sigma_s)
    track = ScoreTrack(times, indices, smoothed, PERCEPTION_TRACK)
    cut = cut_intervals(smoothed, times, encoded.duration_s, video, None)
    intervals: list[Interval] = []
    citations: list[RuleCitation | None] = []
    for interval in cut:
        named, citation = _cite(interval, track, deductions, captions, held, rules)
        intervals.append(named)
        citations.append(citation)
    perceived = PerceivedVideo(
        mode=config.mode,
        fps=config.fps,
        budget=config.budget if config.mode == "budget" else None,
        frame_indices=indices,
        times_s=times,
        held=held,
        captions=captions,
        deductions=tuple(deductions),
        track=track,
        intervals=tuple(intervals),
        citations=tuple(citations),
        sent=captioner.captioned - before,
        embedder=str(getattr(deducer.embedder, "name", "")),
    )
    return fuse(result, encoded, perceived, rules), perceived


def fuse(
    result: VideoResult, encoded: EncodedVideo, perceived: PerceivedVideo, rules: RuleSet
) -> VideoResult:
    """The result with the rule track and its intervals joined to the CLIP ones.

    The fused track is the maximum of the CLIP/memory fused track and the rule track (put
    on the CLIP's sample times); the segments and per-frame scores follow it. Every
    interval cites its rule: the CLIP ones as :func:`~vlad.pipeline.rules.cite_rules` does
    (without captions: the VLM's calls are the loop's), the rule track's with clause and
    reason.
    """
    times = result.fused.times_s
    rule_values = temporal.scores_at(perceived.track.times_s, perceived.track.values, times)
    fused_values = np.maximum(result.fused.values, rule_values)
    fused = ScoreTrack(times, result.fused.frame_indices, fused_values, None)
    clip_citations = cite_rules(result, rules)
    paired = [
        *zip(result.intervals, clip_citations, strict=True),
        *zip(perceived.intervals, perceived.citations, strict=True),
    ]
    paired.sort(key=lambda pair: (pair[0].start_s, -pair[0].peak_score))
    return replace(
        result,
        definitions=(*result.definitions, PERCEPTION_TRACK),
        tracks=(*result.tracks, perceived.track),
        fused=fused,
        segments=tuple(temporal.segment_scores(times, fused_values, result.segments)),
        intervals=tuple(pair[0] for pair in paired),
        frame_scores=temporal.scores_at(times, fused_values, encoded.frame_times_s),
        citations=tuple(pair[1] for pair in paired),
    )


def _cite(
    interval: Interval,
    track: ScoreTrack,
    deductions: Sequence[Deduction],
    captions: dict[int, str],
    held: np.ndarray,
    rules: RuleSet,
) -> tuple[Interval, RuleCitation | None]:
    """The interval named after the anomaly rule of its peak frame, and its citation.

    The peak is the highest smoothed score among the frames inside whose description was
    judged anomalous with a rule (else among all frames inside); the citation names the
    described frame whose caption the peak holds (the peak itself in ``every`` mode).
    """
    times = track.times_s
    inside = np.flatnonzero((times >= interval.start_s) & (times < interval.end_s))
    if not len(inside):
        inside = np.array([int(np.argmin(np.abs(times - interval.start_s)))])
    judged = [
        int(i) for i in inside if deductions[i].verdict == "anomalous" and deductions[i].rules
    ]
    pool = np.asarray(judged) if judged else inside
    peak = int(pool[int(np.argmax(track.values[pool]))])
    deduction = deductions[peak]
    rule = None
    known = {r.id: r for r in rules.anomaly()}
    for rule_id in deduction.rules if deduction.verdict == "anomalous" else ():
        if rule_id in known:
            rule = known[rule_id]
            break
    if rule is None:
        return replace(interval, definition=PERCEPTION_TRACK), None
    seen = int(held[peak])  # the described frame whose caption decided the peak
    citation = RuleCitation.of(
        rule,
        frame_index=int(track.frame_indices[seen]),
        time_s=float(times[seen]),
        caption=captions[seen],
        clause=deduction.clause,
        reason=deduction.reason,
        source="perception",
    )
    return replace(interval, definition=rule.text), citation


@dataclass(frozen=True)
class PerceptionStage:
    """The rule loop's set-up for one request: its settings and its deducer (built once).

    Attributes:
        config: Mode, fps and budget.
        deducer: The rules' deducer (:func:`build_deducer`).
    """

    config: PerceptionConfig
    deducer: RuleDeducer

    def run(
        self,
        result: VideoResult,
        encoded: EncodedVideo,
        rules: RuleSet,
        *,
        captioner: FrameCaptioner,
        video: VideoConfig,
        keeper: FrameKeeper | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[VideoResult, PerceivedVideo]:
        """:func:`perceive_video` with this stage's settings and deducer.

        ``progress`` is called with ``(frames described, frames to describe)`` after each
        batch of frames the VLM describes (cached captions count at once).
        """
        return perceive_video(
            result,
            encoded,
            rules,
            captioner=captioner,
            deducer=self.deducer,
            config=self.config,
            video=video,
            keeper=keeper,
            progress=progress,
        )


def perception_stage(
    config: PerceptionConfig, rules: RuleSet, *, captioner: Any, embedders: dict[str, Any]
) -> PerceptionStage | None:
    """The stage for a request, or None when frames are not described (``peak``).

    Args:
        config: The perception settings.
        rules: The request's rule set (None refused for ``every``/``budget``).
        captioner: The request's frame captioner (None refused for ``every``/``budget``).
        embedders: Text embedders already loaded, by spec (filled here: loaded once per
            pipeline).

    Raises:
        ConfigError: A mode that describes frames without a VLM or rules, or rules
            without an anomaly rule.
    """
    check_perception(config, captioner=captioner, rules=rules)
    if not config.describes_frames:
        return None
    embedder = embedders.get(config.embedder)
    if embedder is None:
        from vlad.encoders import text

        embedder = embedders[config.embedder] = text.load_embedder(config.embedder)
    return PerceptionStage(config, build_deducer(rules, config, embedder))
