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
    """

    rules: RuleSet
    embedder: TextEmbedder | None = None
    method: str = "retrieval"
    backend: ChatBackend | None = None
    smooth: float = 16.0
    llm_budget: float = 0.05
    llm_weight: float = 0.2
    scene_prior: bool = True
    matcher_options: dict[str, Any] = field(default_factory=dict)
    judge_prompt: str | os.PathLike[str] = DEFAULT_JUDGE_PROMPT
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
        smoothed = [smooth_frames(raw[a:b], self.smooth) for a, b in itertools.pairwise(bounds)]
        llm_note: dict[int, LlmJudgement] = {}
        if self.method == "hybrid":
            smoothed, llm_note = self._hybrid(flat, raw, smoothed, bounds)
        out: list[list[Deduction]] = []
        for v, (a, b) in enumerate(itertools.pairwise(bounds)):
            frames = []
            for offset, margin in enumerate(smoothed[v]):
                frames.append(self._explain(matches, a + offset, float(margin), llm_note))
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
    ) -> tuple[list[np.ndarray], dict[int, LlmJudgement]]:
        assert self.backend is not None
        both = np.concatenate(smoothed)
        # Each question may be double-checked, so half the budget goes to first questions.
        calls = int(self.llm_budget * len(flat) // 2)
        if calls == 0:
            return smoothed, {}
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
        return [
            smooth_frames(adjusted[a:b], self.smooth) for a, b in itertools.pairwise(bounds)
        ], notes

    def _explain(
        self,
        matches: FrameMatches,
        frame: int,
        margin: float,
        notes: dict[int, LlmJudgement],
    ) -> Deduction:
        clause, anomaly_rule, normal_ref, a_sim, n_sim = matches.evidence(frame)
        verdict = "anomalous" if margin > 0 else "normal"
        score = float(margin_to_score(margin))
        note = notes.get(frame)
        if clause is None:
            return Deduction(verdict, score, (), "The frame has no description.", None, margin)
        if verdict == "anomalous":
            rule = self.rules.by_id(anomaly_rule) if anomaly_rule else None
            cited = tuple(r for r in (note.rule if note else None, anomaly_rule) if r)
            reason = (
                f"'{clause}' matches the anomaly rule '{rule.text if rule else anomaly_rule}' "
                f"(similarity {a_sim:.2f}, nearest normal {n_sim:.2f})."
            )
        else:
            cited = (normal_ref,) if normal_ref and not normal_ref.startswith("scene:") else ()
            reference = (
                f"the scene's usual '{normal_ref[6:]}'"
                if normal_ref and normal_ref.startswith("scene:")
                else f"the normal rule '{self.rules.by_id(normal_ref).text}'"
                if normal_ref
                else "no anomaly rule"
            )
            reason = f"'{clause}' is closest to {reference} (similarity {n_sim:.2f})."
        if note is not None and note.reason:
            reason = f"{reason} The LLM says: {' '.join(note.reason.split())[:200]}"
        return Deduction(verdict, score, tuple(dict.fromkeys(cited)), reason, clause, margin)

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
