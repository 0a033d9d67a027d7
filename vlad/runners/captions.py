"""Evaluate rule deduction on frame captions with frame labels (AnomalyRuler's layout).

The dataset records and their reader live in :mod:`vlad.data.captions` (re-exported here
for one release); this module chooses the rules to judge by and runs the evaluation loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.config.reasoning import DeductionConfig
from vlad.data.captions import (
    RULES_FILE,
    CaptionDataset,
    CaptionVideo,
    dataset_rules_file,
    load_caption_dataset,
    read_caption_dataset,
)
from vlad.errors import ConfigError, InputError
from vlad.utils.io import atomic_write_text

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.deduction import Deduction, RuleDeducer
    from vlad.reasoning.llm import ChatBackend
    from vlad.reasoning.rules import RuleSet

logger = logging.getLogger(__name__)

__all__ = [
    "PARTS_MARKER",
    "PARTS_SUFFIX",
    "REFERENCE_FRAMES",
    "CaptionDataset",
    "CaptionParts",
    "CaptionVideo",
    "VideoResult",
    "dataset_rules",
    "dataset_rules_file",
    "evaluate_captions",
    "load_caption_dataset",
    "read_caption_dataset",
    "video_settings_hashes",
]

# Frames per video taken as normal references when a dataset has no rules file.
REFERENCE_FRAMES = 8


def dataset_rules(
    root: str | Path,
    dataset: str,
    videos: Sequence[CaptionVideo],
    *,
    rules_path: str | Path | None = None,
    llm: ChatBackend | None = None,
    embedder: TextEmbedder | None = None,
    definitions: Sequence[str] = (),
) -> tuple[RuleSet, str]:
    """The rules to judge by, and a sentence saying where they came from.

    ``rules_path`` when given; else the dataset's ``rules.txt``; else rules induced by
    ``llm`` from the first :data:`REFERENCE_FRAMES` captions of each video, taken as
    normal references (benchmarks start most videos with normal frames).
    """
    from vlad.reasoning.rules import load_rules

    own = dataset_rules_file(root, dataset)
    if rules_path is not None:
        rules, how = load_rules(rules_path), f"rules from {rules_path}"
    elif own is not None:
        rules, how = load_rules(own), f"the dataset's rules ({own})"
    else:
        if llm is None or embedder is None:
            raise ConfigError(
                f"The dataset {dataset} has no {RULES_FILE}; pass rules_path or an llm to "
                "induce rules from its first frames.",
                param="rules_path",
            )
        from vlad.reasoning.induction import induce_rules

        references = [c for v in videos for c in v.captions[:REFERENCE_FRAMES] if c.strip()]
        rules = induce_rules(references, llm, embedder, batches=3, per_batch=10)
        how = (
            f"rules induced by {llm.name} from the first {REFERENCE_FRAMES} captions of each "
            f"of the {len(videos)} videos, taken as normal references"
        )
    if definitions:
        rules = rules.with_definitions(definitions)
    return rules, how


def evaluate_captions(
    videos: Sequence[CaptionVideo],
    rules: RuleSet,
    *,
    method: str = "retrieval",
    embedder: TextEmbedder | None = None,
    backend: ChatBackend | None = None,
    smooth: float = 32.0,
    llm_budget: float = 0.05,
    scene_prior: bool = True,
    video_norm: float = 0.5,
    config: DeductionConfig | None = None,
    progress: Callable[[float], None] | None = None,
    skipped: Sequence[str] = (),
    parts: CaptionParts | None = None,
) -> tuple[dict[str, Any], list[list[Deduction]]]:
    """Judge every caption and score the judgements against the labels.

    Videos are judged one at a time (the scene prior is first learned from all of them,
    so each is judged as in one pass over the dataset). With ``parts``, each video's
    judgements are kept as soon as it is done, and a video already kept there with the
    same settings is read back instead of judged again: an interrupted evaluation resumes
    where it stopped and gives the same figures. The ``hybrid`` method spends its LLM
    budget on the least certain frames of the whole dataset, so its videos are judged
    together and reused only when all of them are kept (its LLM answers come from the
    answer cache anyway).

    Args:
        videos: The dataset's videos.
        rules: The rules to judge by.
        method: ``keywords``, ``retrieval``, ``hybrid`` or ``llm``.
        embedder: Text embedder (``retrieval``, ``hybrid``).
        backend: Chat backend (``hybrid``, ``llm``).
        smooth: Perception smoothing width in frames.
        llm_budget: LLM calls per frame for ``hybrid``.
        scene_prior: Learn normal references from the captions themselves (no labels).
        video_norm: Share of each video's median margin subtracted before smoothing.
        config: All deduction settings at once; when given, it replaces ``method``,
            ``smooth``, ``llm_budget``, ``scene_prior`` and ``video_norm``.
        progress: Called with the share of the work done, from 0 to 1, as it goes: clauses
            embedded, captions judged by the LLM and frames judged all count. The shares
            never decrease and the last call is 1.0.
        skipped: Names of the dataset's videos left out (no caption file: see
            :func:`vlad.data.captions.read_caption_dataset`), counted in the figures.
        parts: Where each video's judgements are kept (:class:`CaptionParts`), or None.

    Returns:
        The figures (``auc``, ``ap``, ``frames``, ``llm_calls_per_frame``,
        ``tokens_per_frame``, ``wall_s``, ``method``, ``skipped_videos``, ``skipped``,
        ``resumed_videos`` ...) and the deductions.

    Raises:
        InputError: When there is no caption at all.
    """
    from vlad.metrics import frame_ap, frame_auc
    from vlad.reasoning.deduction import RuleDeducer

    if config is None:
        config = DeductionConfig(
            method=method,
            smooth=smooth,
            llm_budget=llm_budget,
            scene_prior=scene_prior,
            video_norm=video_norm,
        )
    method, smooth, scene_prior = config.method, config.smooth, config.scene_prior
    deducer = RuleDeducer.from_config(rules, config, embedder=embedder, backend=backend)
    if sum(len(v.captions) for v in videos) == 0:
        raise InputError("There are no frame descriptions to judge; give at least one.")
    hashes = video_settings_hashes(videos, rules, config, embedder=embedder, backend=backend)
    kept: dict[int, VideoResult] = {}
    if parts is not None:
        kept = parts.load_all(videos, hashes)
        if method == "hybrid" and len(kept) < len(videos):
            kept = {}
    start = time.perf_counter()
    tracker = _Tracker(progress)
    results = dict(kept)
    pending = [i for i in range(len(videos)) if i not in kept]
    if pending:
        results.update(
            _judge_pending(deducer, videos, pending, hashes, tracker=tracker, parts=parts)
        )
    tracker.finish()
    wall = time.perf_counter() - start
    ordered = [results[i] for i in range(len(videos))]
    deductions = [list(r.deductions) for r in ordered]
    labels = [v.labels for v in videos]
    scores = [np.array([d.score for d in frames]) for frames in deductions]
    if method == "hybrid":
        stats = dict(ordered[0].stats)  # one run over all videos: its totals, kept in each
    else:
        stats = {k: sum(r.stats.get(k, 0) for r in ordered) for k in _STAT_KEYS}
    frames = sum(len(v.captions) for v in videos)
    clauses = (
        len({c for v in videos for d in v.captions for c in _clauses(d)})
        if method in ("retrieval", "hybrid")
        else 0
    )
    figures: dict[str, Any] = {
        "method": method,
        "frames": frames,
        "videos": len(videos),
        "skipped_videos": len(skipped),
        "skipped": list(skipped),
        "resumed_videos": len(kept),
        "auc": frame_auc(labels, scores),
        "ap": frame_ap(labels, scores),
        "llm_calls_per_frame": stats["llm_calls"] / frames if frames else 0.0,
        "tokens_per_frame": stats["llm_tokens"] / frames if frames else 0.0,
        "llm_parse_failures": stats["parse_failures"],
        "clauses_embedded": clauses,
        "wall_s": wall,
        "smooth_frames": smooth,
        "video_norm": config.video_norm if method in ("retrieval", "hybrid") else 0.0,
        "scene_prior": scene_prior and method in ("retrieval", "hybrid"),
    }
    if deducer.matcher is not None and scene_prior:
        if not pending:  # nothing judged in this run: learn the scene to report it
            deducer.fit_scene([d for v in videos for d in v.captions])
        figures["scene_references"] = len(deducer.matcher.scene_references)
    elif deducer.matcher is not None:
        figures["scene_references"] = 0
    predicted = np.concatenate([[d.verdict == "anomalous" for d in f] for f in deductions])
    truth = np.concatenate(labels).astype(bool)
    figures["accuracy"] = float((predicted == truth).mean())
    return figures, deductions


_STAT_KEYS = ("llm_calls", "llm_tokens", "parse_failures")
_EMBED_CHUNK = 1024  # clauses embedded per call (and between two progress reports)


def _judge_pending(
    deducer: RuleDeducer,
    videos: Sequence[CaptionVideo],
    pending: list[int],
    hashes: list[str],
    *,
    tracker: _Tracker,
    parts: CaptionParts | None,
) -> dict[int, VideoResult]:
    """Judge the videos not kept yet, keeping each one's result as soon as it is done."""
    matcher = deducer.matcher
    method = deducer.method
    everything = [d for v in videos for d in v.captions]
    # The plan: what each step costs, in units of one clause embedded, one caption asked
    # to the LLM or one frame judged, so that the bar moves with the real work.
    # Rule phrases are embedded already; a caption clause equal to one is counted once more.
    known: set[str] = set()
    scene: list[str] = []
    if matcher is not None and matcher.scene_prior:
        scene = _frequent_clauses(everything, matcher.prior_min_share)
        known.update(scene)
    steps: list[tuple[int, list[str], int]] = []  # (video, clauses to embed, other units)
    order = pending if method != "hybrid" else list(range(len(videos)))
    for i in order:
        captions = videos[i].captions
        new: list[str] = []
        if matcher is not None:
            for description in captions:
                for clause in _clauses(description):
                    if clause not in known:
                        known.add(clause)
                        new.append(clause)
        if method == "llm":
            units = len({" ".join(d.split()) for d in captions} - {""})
        elif method == "hybrid":
            units = len(captions) + int(deducer.llm_budget * len(captions))
        else:
            units = len(captions)
        steps.append((i, new, units))
    tracker.plan(len(scene) + sum(len(n) + u for _, n, u in steps))

    # One queue of the clauses to embed, in the order the videos need them, embedded in
    # chunks that may span videos: each embedding call has a fixed cost, so many small
    # videos must not mean many small calls.
    queue = [c for _, new, _ in steps for c in new]
    embedded = 0

    def embed_until(count: int) -> None:
        nonlocal embedded
        assert matcher is not None
        while embedded < count:
            chunk = queue[embedded : embedded + _EMBED_CHUNK]
            # Sorted by length, as the embedder sorts one big call, so batches pad little.
            matcher.embed(sorted(chunk, key=len))
            embedded += len(chunk)
            tracker.advance(len(chunk))

    if matcher is not None:
        for k in range(0, len(scene), _EMBED_CHUNK):
            chunk = scene[k : k + _EMBED_CHUNK]
            matcher.embed(sorted(chunk, key=len))
            tracker.advance(len(chunk))
    deducer.fit_scene(everything)
    results: dict[int, VideoResult] = {}
    if method == "hybrid":
        if matcher is not None:
            embed_until(len(queue))
        before = _stat_values(deducer)
        judged = deducer.deduce([list(v.captions) for v in videos])
        stats = _stat_delta(deducer, before)
        for (i, _, _), frames in zip(steps, judged, strict=True):
            results[i] = VideoResult(videos[i].name, hashes[i], tuple(frames), stats)
        if parts is not None:
            for result in results.values():
                parts.write(result)
        tracker.advance(sum(u for _, _, u in steps))
        return results
    needed = 0
    for i, new, units in steps:
        needed += len(new)
        if matcher is not None:
            embed_until(needed)
        before = _stat_values(deducer)
        captions = list(videos[i].captions)
        [frames] = deducer.deduce([captions]) if captions else [[]]
        result = VideoResult(videos[i].name, hashes[i], tuple(frames), _stat_delta(deducer, before))
        if parts is not None:
            parts.write(result)
        results[i] = result
        tracker.advance(units)
    return results


def _stat_values(deducer: RuleDeducer) -> dict[str, int]:
    stats = deducer.stats
    return {
        "llm_calls": stats.llm_calls,
        "llm_tokens": stats.llm_tokens,
        "parse_failures": stats.parse_failures,
    }


def _stat_delta(deducer: RuleDeducer, before: dict[str, int]) -> dict[str, int]:
    after = _stat_values(deducer)
    return {k: after[k] - before[k] for k in _STAT_KEYS}


def _clauses(description: str) -> list[str]:
    from vlad.reasoning.deduction.clauses import canonical_clause, split_clauses

    return [canonical_clause(c) for c in split_clauses(description)]


def _frequent_clauses(descriptions: Sequence[str], min_share: float) -> list[str]:
    """The clauses the scene prior will embed (as :meth:`RuleMatcher.fit_scene` picks them)."""
    counts: Counter[str] = Counter()
    for description in descriptions:
        counts.update(set(_clauses(description)))
    least = max(2, math.ceil(min_share * len(descriptions)))
    return [c for c, n in counts.most_common() if n >= least]


class _Tracker:
    """Turns units of work done into shares from 0 to 1 for a progress callback."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.total = 0
        self.done = 0
        self.reported = -1.0

    def plan(self, total: int) -> None:
        self.total = total
        self._report()

    def advance(self, units: int) -> None:
        self.done = min(self.done + units, self.total)
        self._report()

    def finish(self) -> None:
        self.done = self.total
        self._report(final=True)

    def _report(self, *, final: bool = False) -> None:
        share = 1.0 if final or self.total == 0 else self.done / self.total
        if self.callback is not None and share > self.reported:
            self.reported = share
            self.callback(share)


# --- per-video results kept beside the output -----------------------------------------------

PARTS_SUFFIX = ".parts"
"""``FILE.parts/`` beside an output ``FILE`` holds one result per video."""

PARTS_MARKER = ".vlad-caption-parts"
"""The file that marks a folder as vlad's per-video results (nothing else there is touched)."""

PARTS_VERSION = 2


@dataclass(frozen=True)
class VideoResult:
    """One video's judgements, as kept in its part file.

    Attributes:
        name: The video's name.
        settings_hash: :func:`video_settings_hashes` of the run that judged it.
        deductions: One judgement per frame (scores at full precision).
        stats: ``llm_calls``, ``llm_tokens`` and ``parse_failures`` spent on it (for
            ``hybrid``: of the whole run).
    """

    name: str
    settings_hash: str
    deductions: tuple[Deduction, ...]
    stats: dict[str, int] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record of the part file (floats kept exact)."""
        return {
            "version": PARTS_VERSION,
            "video": self.name,
            "settings_hash": self.settings_hash,
            "stats": dict(self.stats),
            "frames": [
                {
                    "verdict": d.verdict,
                    "score": float(d.score),
                    "rules": list(d.rules),
                    "reason": d.reason,
                    "clause": d.clause,
                    "margin": float(d.margin),
                    "source": d.source,
                    "evidence_frame": d.evidence_frame,
                    "pattern": d.pattern,
                }
                for d in self.deductions
            ],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> VideoResult:
        """Rebuild a result from its record (KeyError/TypeError/ValueError when malformed)."""
        from vlad.reasoning.deduction import Deduction

        if record.get("version") != PARTS_VERSION:
            raise ValueError("another version")
        frames = tuple(
            Deduction(
                verdict=str(f["verdict"]),
                score=float(f["score"]),
                rules=tuple(str(r) for r in f["rules"]),
                reason=str(f["reason"]),
                clause=None if f["clause"] is None else str(f["clause"]),
                margin=float(f["margin"]),
                source=str(f["source"]),
                evidence_frame=None if f["evidence_frame"] is None else int(f["evidence_frame"]),
                pattern=None if f["pattern"] is None else str(f["pattern"]),
            )
            for f in record["frames"]
        )
        stats = {k: int(record["stats"].get(k, 0)) for k in _STAT_KEYS}
        return cls(str(record["video"]), str(record["settings_hash"]), frames, stats)


class CaptionParts:
    """The per-video results of a caption evaluation, kept in ``FILE.parts/`` beside ``FILE``.

    Each video's result is one JSON file, written atomically when the video is done; a
    rerun with the same settings reads it back instead of judging the video again. Only
    files vlad wrote there are ever replaced; a folder at that path that vlad did not make
    is refused.

    Args:
        out_file: The evaluation's output file.
    """

    def __init__(self, out_file: str | os.PathLike[str]) -> None:
        out = Path(out_file)
        self.folder = out.with_name(out.name + PARTS_SUFFIX)

    def check(self, *, param: str = "out") -> None:
        """Refuse, before any work, a parts path vlad cannot use.

        Args:
            param: The parameter naming the output file, for the message.

        Raises:
            ConfigError: When the path is a file, or a non-empty folder vlad did not make.
        """
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise ConfigError(
                f"{param} keeps each video's result in '{folder}', which is a file; move it "
                f"or choose another {param}.",
                param=param,
            )
        if folder.is_dir() and not (folder / PARTS_MARKER).is_file() and any(folder.iterdir()):
            raise ConfigError(
                f"{param} keeps each video's result in '{folder}', which holds files vlad did "
                f"not write; move them or choose another {param}.",
                param=param,
            )

    def path_of(self, name: str) -> Path:
        """The part file of a video."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
        if safe != name:
            safe = f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        return self.folder / f"{safe}.json"

    def load(self, name: str, settings_hash: str) -> VideoResult | None:
        """A video's kept result when it exists, is whole and has these settings; else None."""
        path = self.path_of(name)
        try:
            result = VideoResult.from_record(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if result.name != name or result.settings_hash != settings_hash:
            return None
        return result

    def load_all(
        self, videos: Sequence[CaptionVideo], hashes: Sequence[str]
    ) -> dict[int, VideoResult]:
        """The kept results of these videos (by position) that match their settings.

        A video kept with other settings is judged again, and a warning says how many.
        """
        kept: dict[int, VideoResult] = {}
        changed = 0
        for i, (video, wanted) in enumerate(zip(videos, hashes, strict=True)):
            result = self.load(video.name, wanted)
            if result is not None and len(result.deductions) == len(video.captions):
                kept[i] = result
            elif self.path_of(video.name).is_file():
                changed += 1
        if changed:
            logger.warning(
                "%d video%s kept in %s had other settings or data; judging %s again.",
                changed,
                "s" if changed != 1 else "",
                self.folder,
                "them" if changed != 1 else "it",
            )
        return kept

    def write(self, result: VideoResult) -> Path:
        """Keep one video's result (atomically)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / PARTS_MARKER
        if not marker.is_file():
            atomic_write_text(marker, "vlad eval captions: one result per video\n")
        return atomic_write_text(
            self.path_of(result.name), json.dumps(result.to_record(), ensure_ascii=False)
        )


def video_settings_hashes(
    videos: Sequence[CaptionVideo],
    rules: RuleSet,
    config: DeductionConfig,
    *,
    embedder: TextEmbedder | None = None,
    backend: ChatBackend | None = None,
) -> list[str]:
    """Per video, a hash of everything its judgements depend on.

    The settings, the rules, the models' names and the video's captions and labels; with
    the scene prior (``retrieval``, ``hybrid``) also every caption of the dataset, which it
    learns from, and for ``hybrid`` every video (its LLM budget is shared).

    Args:
        videos: The dataset's videos.
        rules: The rules.
        config: The deduction settings.
        embedder: The text embedder, if used.
        backend: The chat backend, if used.

    Returns:
        One 16-hex-digit hash per video.
    """
    method = config.method
    uses_embedder = method in ("retrieval", "hybrid")
    uses_llm = method in ("hybrid", "llm")
    common: dict[str, Any] = {
        "method": method,
        "smooth": config.smooth,
        "rules": [[r.id, r.kind, r.text] for r in (*rules.anomaly(), *rules.normal())],
        "embedder": getattr(embedder, "name", None) if uses_embedder else None,
        "llm": getattr(backend, "name", None) if uses_llm else None,
    }
    if uses_embedder:
        common["matcher"] = config.matcher_options()
        common["scene_prior"] = config.scene_prior
        common["video_norm"] = config.video_norm
    if uses_llm:
        common["judge_prompt"] = str(config.judge_prompt)
    if method == "hybrid":
        common["llm_budget"] = config.llm_budget
        common["llm_weight"] = config.llm_weight
    own = [
        _digest({"captions": v.captions, "labels": np.asarray(v.labels).tolist()}) for v in videos
    ]
    if method == "hybrid" or (uses_embedder and config.scene_prior):
        common["dataset"] = _digest(own)
    return [
        _digest({**common, "video": v.name, "data": d}) for v, d in zip(videos, own, strict=True)
    ]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
