"""Deduction: judge frame descriptions against a rule set, by retrieval and, if asked, an LLM.

The fast path (``retrieval``) needs no LLM. Each description is cut into clauses ("the
fifth person is running"), the subject is made generic ("a person is running") and every
clause is embedded once (:mod:`~vlad.reasoning.deduction.clauses`). A rule is matched by
its phrases (the whole rule, the rule without asides, and the examples after "such as" or
between "or"). A clause's margin is its best similarity to an anomaly phrase minus its best
similarity to a normal reference; a frame's margin is the largest over its clauses, and the
clause and rule behind it are the frame's evidence (:mod:`~vlad.reasoning.deduction.matcher`).

Normal references are the normal rules and, with the scene prior, the scene's own
frequent clauses: a clause seen in at least ``prior_min_share`` of the frames is taken as
normal for this scene, unless the rules call it anomalous (its margin against the rules
alone is at least ``prior_max_margin``). Their similarities count ``prior_weight`` times.
This is what AnomalyRuler's induction from normal frames gives a rule set, learned here
without labels from the footage being judged; rules keep the last word, so an event that
fills most frames (a bicycle path full of bicycles) stays anomalous when a rule says so.

Each video's frame margins are then centred: ``video_norm`` times the video's median
frame margin is subtracted (anomalies are rare within a video, so a video whose every
frame mentions a bag that a rule calls anomalous is lowered as a whole). Perception
smoothing (a Gaussian over neighbouring frames, :func:`vlad.scoring.temporal.smooth_frames`)
makes neighbours agree. Each judgement cites the clause and rule that decided it: the
frame's own, or, when smoothing turned its verdict, the neighbour's that weighs most
(``evidence_frame``); a normal frame cites the normal rule, or the scene's usual clause
(``pattern``) it matched. The ``hybrid`` method
asks an LLM (:mod:`~vlad.reasoning.deduction.judge`) about the frames whose smoothed margin
is nearest the decision boundary, within a budget of calls per frame; ``llm`` asks it about
every distinct description (AnomalyRuler's deduction, one call per description, with a
second "double-check" pass on positive answers). ``keywords`` counts rule words
(:mod:`~vlad.reasoning.deduction.keywords`). :class:`RuleDeducer`
(:mod:`~vlad.reasoning.deduction.deducer`) runs them all.

The defaults (``prior_min_share=0.01``, ``prior_max_margin=0.3``, ``prior_weight=0.7``,
``smooth_frames=32``, ``video_norm=0.5``) were chosen by leave-one-dataset-out on the
Ped2, Avenue and ShanghaiTech caption sets of the AnomalyRuler paper: for each set, the
setting whose worse AUC on the two other sets is highest; the shipped one is that rule's
choice on all three (``bench/bench_deduction.py`` runs the protocol and prints the table).

This package's ``__init__`` imports nothing heavy: the names below are loaded on first use,
so that :mod:`vlad.reasoning.deduction.methods` (imported by the CLI parser) stays free of
numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlad.reasoning.deduction.clauses import canonical_clause, rule_phrases, split_clauses
    from vlad.reasoning.deduction.deducer import (
        RuleDeducer,
        centre_margins,
        deciding_frame,
        frame_track,
    )
    from vlad.reasoning.deduction.judge import LlmJudgement, RuleJudge
    from vlad.reasoning.deduction.keywords import keyword_scores, keyword_set
    from vlad.reasoning.deduction.matcher import FrameMatches, RuleMatcher, margin_to_score
    from vlad.reasoning.deduction.methods import METHODS, Method
    from vlad.reasoning.deduction.records import Deduction, DeductionStats
    from vlad.reasoning.deduction.rule_memory import rules_to_memory

_WHERE = {
    "canonical_clause": "clauses",
    "rule_phrases": "clauses",
    "split_clauses": "clauses",
    "RuleDeducer": "deducer",
    "centre_margins": "deducer",
    "deciding_frame": "deducer",
    "frame_track": "deducer",
    "LlmJudgement": "judge",
    "RuleJudge": "judge",
    "keyword_scores": "keywords",
    "keyword_set": "keywords",
    "FrameMatches": "matcher",
    "RuleMatcher": "matcher",
    "margin_to_score": "matcher",
    "METHODS": "methods",
    "Method": "methods",
    "Deduction": "records",
    "DeductionStats": "records",
    "rules_to_memory": "rule_memory",
}

__all__ = [
    "METHODS",
    "Deduction",
    "DeductionStats",
    "FrameMatches",
    "LlmJudgement",
    "Method",
    "RuleDeducer",
    "RuleJudge",
    "RuleMatcher",
    "canonical_clause",
    "centre_margins",
    "deciding_frame",
    "frame_track",
    "keyword_scores",
    "keyword_set",
    "margin_to_score",
    "rule_phrases",
    "rules_to_memory",
    "split_clauses",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (keeps this package numpy-free)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
