"""RuleDeducer: judge the frame descriptions of videos against a rule set, by any method."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.config.reasoning import DEFAULT_JUDGE_PROMPT, DeductionConfig
from vlad.errors import ConfigError, InputError
from vlad.reasoning.deduction.judge import LlmJudgement, RuleJudge
from vlad.reasoning.deduction.keywords import keyword_scores, keyword_set
from vlad.reasoning.deduction.matcher import (
    NO_ANOMALY_RULE,
    FrameMatches,
    RuleMatcher,
    margin_to_score,
)
from vlad.reasoning.deduction.methods import METHODS
from vlad.reasoning.deduction.records import Deduction, DeductionStats
from vlad.scoring.temporal import smooth_frames

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.llm import ChatBackend
    from vlad.reasoning.rules import RuleSet


@dataclass
class RuleDeducer:
    """Judge the frame descriptions of videos against a rule set.

    Args:
        rules: The rule set.
        embedder: Text embedder (needed by ``retrieval`` and ``hybrid``).
        method: ``keywords``, ``retrieval``, ``hybrid`` or ``llm``.
        backend: Chat backend (needed by ``hybrid`` and ``llm``).
        smooth: Perception smoothing width in frames (0 turns it off).
        llm_budget: Most LLM calls per frame for ``hybrid`` (double checks included).
        llm_weight: How far an LLM verdict moves a frame's margin in ``hybrid``.
        scene_prior: Learn normal references from the descriptions themselves.
        matcher_options: More :class:`RuleMatcher` options.
        judge_prompt: The LLM judge's prompt (``hybrid``, ``llm``): a packaged name or a
            YAML path (see ``prompts/README.md``).
        video_norm: Per-video normalisation of the margins (``retrieval``, ``hybrid``):
            this share of the median frame margin of each video is subtracted before
            smoothing (:func:`frame_track`), since anomalies are rare within a video; 0
            turns it off.
    """

    rules: RuleSet
    embedder: TextEmbedder | None = None
    method: str = "retrieval"
    backend: ChatBackend | None = None
    smooth: float = 32.0
    llm_budget: float = 0.05
    llm_weight: float = 0.2
    scene_prior: bool = True
    matcher_options: dict[str, Any] = field(default_factory=dict)
    judge_prompt: str | os.PathLike[str] = DEFAULT_JUDGE_PROMPT
    video_norm: float = 0.5
    stats: DeductionStats = field(default_factory=DeductionStats, init=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"Unknown deduction method '{self.method}'; use one of {', '.join(METHODS)}.",
                param="method",
            )
        if self.method in ("retrieval", "hybrid") and self.embedder is None:
            raise ConfigError(
                f"The '{self.method}' method needs a text embedder; pass embedder.",
                param="embedder",
            )
        if self.method in ("hybrid", "llm") and self.backend is None:
            raise ConfigError(
                f"The '{self.method}' method needs an LLM; pass backend (a chat model).",
                param="backend",
            )
        if not self.llm_budget >= 0:
            raise ConfigError(
                f"llm_budget must be 0 or more LLM calls per frame, got {self.llm_budget}.",
                param="llm_budget",
            )
        if not (math.isfinite(self.smooth) and self.smooth >= 0):
            raise ConfigError(
                f"smooth must be zero or more frames, got {self.smooth}.", param="smooth"
            )
        if not (math.isfinite(self.video_norm) and 0 <= self.video_norm <= 1):
            raise ConfigError(
                f"video_norm must lie in [0, 1], got {self.video_norm}.", param="video_norm"
            )
        if not self.rules.anomaly():
            raise ConfigError(NO_ANOMALY_RULE, param="definitions")
        self._matcher: RuleMatcher | None = None
        self._scene_fixed = False
        if self.method in ("retrieval", "hybrid"):
            assert self.embedder is not None
            self._matcher = RuleMatcher(
                self.rules, self.embedder, scene_prior=self.scene_prior, **self.matcher_options
            )

    @classmethod
    def from_config(
        cls,
        rules: RuleSet,
        config: DeductionConfig,
        *,
        embedder: TextEmbedder | None = None,
        backend: ChatBackend | None = None,
    ) -> RuleDeducer:
        """A deducer with the settings of a :class:`~vlad.config.DeductionConfig`.

        Args:
            rules: The rule set.
            config: Method, smoothing, LLM budget, scene prior and judge prompt.
            embedder: Text embedder (``retrieval``, ``hybrid``).
            backend: Chat backend (``hybrid``, ``llm``).

        Returns:
            The deducer.
        """
        return cls(
            rules,
            embedder=embedder,
            method=config.method,
            backend=backend,
            smooth=config.smooth,
            llm_budget=config.llm_budget,
            llm_weight=config.llm_weight,
            scene_prior=config.scene_prior,
            matcher_options=config.matcher_options(),
            judge_prompt=config.judge_prompt,
            video_norm=config.video_norm,
        )

    @property
    def matcher(self) -> RuleMatcher | None:
        """The retrieval matcher (``retrieval`` and ``hybrid`` methods)."""
        return self._matcher

    def fit_scene(self, descriptions: Sequence[str]) -> list[str]:
        """Learn the scene prior once, from these descriptions, for every later :meth:`deduce`.

        By default each :meth:`deduce` call learns the scene from the descriptions it is
        given. A run that judges a dataset one video at a time (to keep each video's result
        as soon as it is done) fits the scene on all of them first, so that every video is
        judged as it would be in one call over the whole dataset.

        Args:
            descriptions: Every frame description of the footage to be judged.

        Returns:
            The clauses taken as normal references (empty without the scene prior or for
            the ``keywords`` and ``llm`` methods).
        """
        self._scene_fixed = True
        if self._matcher is None:
            return []
        return self._matcher.fit_scene(descriptions)

    def deduce(
        self,
        videos: Sequence[Sequence[str]],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Deduction]]:
        """Judge every frame description of every video.

        Args:
            videos: Per video, its frame descriptions in frame order.
            progress: Called with the number of frames finished, as work goes.

        Returns:
            Per video, one :class:`Deduction` per frame.

        Raises:
            InputError: When there is no description at all.
        """
        total = sum(len(v) for v in videos)
        if total == 0:
            raise InputError("There are no frame descriptions to judge; give at least one.")
        self.stats.frames += total
        if self.method == "keywords":
            return self._keywords(videos)
        if self.method == "llm":
            return self._llm(videos, progress)
        return self._retrieval(videos, progress)

    def _keywords(self, videos: Sequence[Sequence[str]]) -> list[list[Deduction]]:
        words = keyword_set(self.rules)
        out = []
        for descriptions in videos:
            counts = smooth_frames(keyword_scores(descriptions, words), self.smooth)
            out.append(
                [
                    Deduction(
                        verdict="anomalous" if c >= 0.5 else "normal",
                        score=float(1 - math.exp(-c)),
                        rules=(),
                        reason=f"{c:.1f} anomaly keywords of the rules in this frame.",
                        margin=float(c),
                        source="keywords",
                    )
                    for c in counts
                ]
            )
        return out

    def _retrieval(
        self, videos: Sequence[Sequence[str]], progress: Callable[[int], None] | None
    ) -> list[list[Deduction]]:
        assert self._matcher is not None
        flat = [d for v in videos for d in v]
        if not self._scene_fixed:
            self._matcher.fit_scene(flat)
        matches = self._matcher.frame_margins(flat)
        self.stats.clauses += len(matches.clauses)
        raw = matches.margins
        bounds = np.cumsum([0] + [len(v) for v in videos])
        centred = np.concatenate(
            [[]]
            + [centre_margins(raw[a:b], self.video_norm) for a, b in itertools.pairwise(bounds)]
        )
        smoothed = [smooth_frames(centred[a:b], self.smooth) for a, b in itertools.pairwise(bounds)]
        llm_note: dict[int, LlmJudgement] = {}
        if self.method == "hybrid":
            smoothed, centred, llm_note = self._hybrid(flat, raw, smoothed, bounds)
        out: list[list[Deduction]] = []
        for v, (a, b) in enumerate(itertools.pairwise(bounds)):
            frames = []
            for offset, margin in enumerate(smoothed[v]):
                local = deciding_frame(centred[a:b], offset, float(margin), self.smooth)
                if matches.best[int(a) + local] is None:  # a blank caption cites nothing
                    local = offset
                frames.append(
                    self._explain(
                        matches, int(a) + offset, local, int(a) + local, float(margin), llm_note
                    )
                )
            out.append(frames)
            if progress is not None:
                progress(int(b))
        return out

    def _hybrid(
        self,
        flat: list[str],
        raw: np.ndarray,
        smoothed: list[np.ndarray],
        bounds: np.ndarray,
    ) -> tuple[list[np.ndarray], np.ndarray, dict[int, LlmJudgement]]:
        assert self.backend is not None
        both = np.concatenate(smoothed)
        pairs = list(itertools.pairwise(bounds))
        # Each question may be double-checked, so half the budget goes to first questions.
        calls = int(self.llm_budget * len(flat) // 2)
        if calls == 0:
            centred = np.concatenate(
                [[]] + [centre_margins(raw[a:b], self.video_norm) for a, b in pairs]
            )
            return smoothed, centred, {}
        # The least certain frames first; one question per distinct description.
        keys = [" ".join(d.split()) for d in flat]
        texts: list[str] = []
        band = math.inf
        for i in np.argsort(np.abs(both), kind="stable"):
            if keys[i] and keys[i] not in texts:
                texts.append(keys[i])
                if len(texts) >= calls:
                    band = float(abs(both[i]))
                    break
        wanted = set(texts)
        chosen: dict[str, list[int]] = {t: [] for t in texts}
        for i, key in enumerate(keys):
            if key in wanted and abs(both[i]) <= band:
                chosen[key].append(i)
        texts = list(chosen)
        judge = RuleJudge(self.rules, self.backend, prompt=self.judge_prompt)
        judgements = judge.judge(texts, self.stats)
        adjusted = raw.copy()
        notes: dict[int, LlmJudgement] = {}
        for text, judgement in zip(texts, judgements, strict=True):
            if judgement.verdict is None:
                continue
            sign = 1.0 if judgement.verdict == "anomalous" else -1.0
            for i in chosen[text]:
                adjusted[i] = raw[i] + sign * self.llm_weight
                notes[i] = judgement
        centred = np.concatenate(
            [[]] + [centre_margins(adjusted[a:b], self.video_norm) for a, b in pairs]
        )
        return [smooth_frames(centred[a:b], self.smooth) for a, b in pairs], centred, notes

    def _explain(
        self,
        matches: FrameMatches,
        frame: int,
        local: int,
        decider: int,
        margin: float,
        notes: dict[int, LlmJudgement],
    ) -> Deduction:
        """The judgement of ``frame``, citing the clause of ``decider`` (``local`` in its video)."""
        clause, anomaly_rule, normal_ref, a_sim, n_sim = matches.evidence(decider)
        verdict = "anomalous" if margin > 0 else "normal"
        score = float(margin_to_score(margin))
        note = notes.get(frame)
        if clause is None:
            return Deduction(verdict, score, (), "The frame has no description.", None, margin)
        where = "" if decider == frame else f"Frame {local} nearby: "
        pattern = None
        if verdict == "anomalous":
            rule = self.rules.by_id(anomaly_rule) if anomaly_rule else None
            cited = tuple(r for r in (note.rule if note else None, anomaly_rule) if r)
            reason = (
                f"{where}'{clause}' matches the anomaly rule "
                f"'{rule.text if rule else anomaly_rule}' "
                f"(similarity {a_sim:.2f}, nearest normal {n_sim:.2f})."
            )
        else:
            cited = (normal_ref,) if normal_ref and not normal_ref.startswith("scene:") else ()
            if normal_ref and normal_ref.startswith("scene:"):
                pattern = normal_ref[6:]
            reference = (
                f"the scene's usual '{normal_ref[6:]}'"
                if normal_ref and normal_ref.startswith("scene:")
                else f"the normal rule '{self.rules.by_id(normal_ref).text}'"
                if normal_ref
                else "no anomaly rule"
            )
            reason = f"{where}'{clause}' is closest to {reference} (similarity {n_sim:.2f})."
        if note is not None and note.reason:
            reason = f"{reason} The LLM says: {' '.join(note.reason.split())[:200]}"
        return Deduction(
            verdict,
            score,
            tuple(dict.fromkeys(cited)),
            reason,
            clause,
            margin,
            evidence_frame=local,
            pattern=pattern,
        )

    def _llm(
        self, videos: Sequence[Sequence[str]], progress: Callable[[int], None] | None
    ) -> list[list[Deduction]]:
        assert self.backend is not None
        judge = RuleJudge(self.rules, self.backend, prompt=self.judge_prompt)
        out: list[list[Deduction]] = []
        done = 0
        for descriptions in videos:
            texts = [" ".join(d.split()) for d in descriptions]
            distinct = [t for t in dict.fromkeys(texts) if t]
            verdicts = dict(zip(distinct, judge.judge(distinct, self.stats), strict=True))
            raw = np.array(
                [
                    0.0
                    if not t or verdicts[t].verdict is None
                    else (1.0 if verdicts[t].verdict == "anomalous" else -1.0)
                    for t in texts
                ]
            )
            smoothed = smooth_frames(raw, self.smooth)
            frames = []
            for t, value in zip(texts, smoothed, strict=True):
                judgement = verdicts.get(t)
                cited = (judgement.rule,) if judgement and judgement.rule else ()
                reason = (
                    judgement.reason
                    if judgement and judgement.reason
                    else "The LLM gave no usable answer."
                    if judgement is None or judgement.verdict is None
                    else f"The LLM judged it {judgement.verdict}."
                )
                frames.append(
                    Deduction(
                        verdict="anomalous" if value > 0 else "normal",
                        score=float((value + 1) / 2),
                        rules=cited,
                        reason=" ".join(reason.split())[:300],
                        margin=float(value),
                        source="llm",
                    )
                )
            out.append(frames)
            done += len(descriptions)
            if progress is not None:
                progress(done)
        return out


def centre_margins(margins: np.ndarray, video_norm: float) -> np.ndarray:
    """Subtract ``video_norm`` times the median of one video's frame margins.

    Anomalies are rare within a video, so its median frame is taken as its normal level:
    a video whose every frame mentions a bag that a rule calls anomalous is lowered as a
    whole, while the frames that stand out of it keep their lead.

    Args:
        margins: (N,) frame margins of one video.
        video_norm: Share of the median to subtract, in [0, 1] (0 returns a copy).

    Returns:
        (N,) centred margins (an empty video stays empty).
    """
    values = np.asarray(margins, dtype=np.float64)
    if values.size == 0 or video_norm == 0:
        return values.copy()
    return values - video_norm * float(np.median(values))


def frame_track(margins: np.ndarray, *, video_norm: float, smooth: float) -> np.ndarray:
    """One video's frame margins as the deducer scores them: centred, then smoothed.

    Args:
        margins: (N,) raw frame margins (:meth:`RuleMatcher.frame_margins`) of one video.
        video_norm: See :func:`centre_margins`.
        smooth: Gaussian width in frames (:func:`vlad.scoring.temporal.smooth_frames`).

    Returns:
        (N,) smoothed margins; a frame is anomalous where its value is above 0.
    """
    return smooth_frames(centre_margins(margins, video_norm), smooth)


def deciding_frame(centred: np.ndarray, frame: int, margin: float, smooth: float) -> int:
    """The frame whose clause decided a frame's verdict after smoothing.

    The frame itself when its own centred margin has the sign of its verdict (above 0 for
    anomalous, 0 or below for normal); else, within the smoothing window (4 sigma), the
    frame of that sign that weighs most in the smoothed value (Gaussian weight times
    margin), nearest first on ties; the frame itself when there is none.

    Args:
        centred: (N,) centred margins of one video (:func:`centre_margins`).
        frame: The frame's index in the video.
        margin: Its smoothed margin (its verdict is anomalous when above 0).
        smooth: The smoothing width in frames.

    Returns:
        The index of the deciding frame in the video.
    """
    anomalous = margin > 0
    if (centred[frame] > 0) == anomalous or smooth == 0:
        return frame
    reach = math.floor(4 * smooth)
    low, high = max(0, frame - reach), min(len(centred), frame + reach + 1)
    where = np.arange(low, high)
    weight = np.exp(-0.5 * ((where - frame) / smooth) ** 2) * centred[low:high]
    agrees = centred[low:high] > 0 if anomalous else centred[low:high] <= 0
    if not agrees.any():
        return frame
    strength = np.where(agrees, weight if anomalous else -weight, -np.inf)
    best = strength.max()
    ties = where[strength == best]
    return int(ties[np.argmin(np.abs(ties - frame))])
