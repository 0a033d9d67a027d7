"""Evaluate rule deduction on frame captions with frame labels (AnomalyRuler's layout).

The dataset records and their reader live in :mod:`vlad.data.captions` (re-exported here
for one release); this module chooses the rules to judge by and runs the evaluation loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
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
from vlad.errors import ConfigError

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.deduction import Deduction
    from vlad.reasoning.llm import ChatBackend
    from vlad.reasoning.rules import RuleSet

logger = logging.getLogger(__name__)

__all__ = [
    "REFERENCE_FRAMES",
    "CaptionDataset",
    "CaptionVideo",
    "dataset_rules",
    "dataset_rules_file",
    "evaluate_captions",
    "load_caption_dataset",
    "read_caption_dataset",
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
    smooth: float = 16.0,
    llm_budget: float = 0.05,
    scene_prior: bool = True,
    config: DeductionConfig | None = None,
    progress: Callable[[int], None] | None = None,
    skipped: Sequence[str] = (),
) -> tuple[dict[str, Any], list[list[Deduction]]]:
    """Judge every caption and score the judgements against the labels.

    Args:
        videos: The dataset's videos.
        rules: The rules to judge by.
        method: ``keywords``, ``retrieval``, ``hybrid`` or ``llm``.
        embedder: Text embedder (``retrieval``, ``hybrid``).
        backend: Chat backend (``hybrid``, ``llm``).
        smooth: Perception smoothing width in frames.
        llm_budget: LLM calls per frame for ``hybrid``.
        scene_prior: Learn normal references from the captions themselves (no labels).
        config: All deduction settings at once; when given, it replaces ``method``,
            ``smooth``, ``llm_budget`` and ``scene_prior``.
        progress: Called with the number of frames judged so far.
        skipped: Names of the dataset's videos left out (no caption file: see
            :func:`vlad.data.captions.read_caption_dataset`), counted in the figures.

    Returns:
        The figures (``auc``, ``ap``, ``frames``, ``llm_calls_per_frame``,
        ``tokens_per_frame``, ``wall_s``, ``method``, ``skipped_videos`` and ``skipped``
        ...) and the deductions.
    """
    from vlad.metrics import frame_ap, frame_auc
    from vlad.reasoning.deduction import RuleDeducer

    if config is None:
        config = DeductionConfig(
            method=method, smooth=smooth, llm_budget=llm_budget, scene_prior=scene_prior
        )
    method, smooth, scene_prior = config.method, config.smooth, config.scene_prior
    deducer = RuleDeducer.from_config(rules, config, embedder=embedder, backend=backend)
    start = time.perf_counter()
    deductions = deducer.deduce([list(v.captions) for v in videos], progress=progress)
    wall = time.perf_counter() - start
    labels = [v.labels for v in videos]
    scores = [np.array([d.score for d in frames]) for frames in deductions]
    stats = deducer.stats
    figures: dict[str, Any] = {
        "method": method,
        "frames": stats.frames,
        "videos": len(videos),
        "skipped_videos": len(skipped),
        "skipped": list(skipped),
        "auc": frame_auc(labels, scores),
        "ap": frame_ap(labels, scores),
        "llm_calls_per_frame": stats.llm_calls_per_frame,
        "tokens_per_frame": stats.llm_tokens / stats.frames if stats.frames else 0.0,
        "llm_parse_failures": stats.parse_failures,
        "clauses_embedded": stats.clauses,
        "wall_s": wall,
        "smooth_frames": smooth,
        "scene_prior": scene_prior and method in ("retrieval", "hybrid"),
    }
    if deducer.matcher is not None:
        figures["scene_references"] = len(deducer.matcher.scene_references)
    predicted = np.concatenate([[d.verdict == "anomalous" for d in f] for f in deductions])
    truth = np.concatenate(labels).astype(bool)
    figures["accuracy"] = float((predicted == truth).mean())
    return figures, deductions
