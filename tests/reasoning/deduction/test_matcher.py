"""Clause retrieval: exact margins, evidence, the scene prior, one embedding per clause."""

from __future__ import annotations

import numpy as np
import pytest

from tests.reasoning.deduction.helpers import (
    VOCAB,
    WordEmbedder,
    rules_of,
)
from vlad.reasoning.deduction.matcher import RuleMatcher, margin_to_score


def test_margin_to_score() -> None:
    assert margin_to_score(0.0) == pytest.approx(0.5)
    assert margin_to_score(0.1) == pytest.approx(1 / (1 + np.exp(-1)))
    assert float(margin_to_score(-5.0)) < 1e-10


def test_matcher_margins_and_evidence_are_exact() -> None:
    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Running"], ["Walking"])
    matcher = RuleMatcher(rules, embedder, scene_prior=False)
    matches = matcher.frame_margins(
        ["The first person is walking, the second person is running.", "A person is walking."]
    )
    # "a person is running" shares "running" with the anomaly rule and nothing with "Walking":
    # cos = 1.01 / (sqrt(2.01) * sqrt(1.01)), against 0.01 / (...) for the normal rule.
    both = np.sqrt(2.01) * np.sqrt(1.01)
    assert matches.margins[0] == pytest.approx(1 / both, abs=1e-6)
    assert matches.margins[1] == pytest.approx(-1 / both, abs=1e-6)
    clause, rule, normal, a_sim, _ = matches.evidence(0)
    assert (clause, rule, normal) == ("a person is running", "a1", "n1")
    assert a_sim == pytest.approx(1.01 / both, abs=1e-6)


def test_scene_prior_learns_frequent_clauses_but_rules_keep_the_last_word() -> None:
    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Riding a bicycle", "Sitting on a bench"], ["Walking"])
    frames = ["A person is riding a bicycle. There is a tree."] * 6
    frames += ["A person is walking under a tree."] * 3 + ["A person is sitting on a bench."]
    matcher = RuleMatcher(rules, embedder, prior_min_share=0.3, prior_max_margin=0.3)
    learned = matcher.fit_scene(frames)
    # "there is a tree" is frequent and no rule calls it anomalous: it becomes normal.
    # "a person is riding a bicycle" is as frequent but a rule calls it anomalous: it stays.
    assert "there is a tree" in learned
    assert "a person is riding a bicycle" not in learned
    assert learned == ["there is a tree", "a person is walking under a tree"]
    assert "a person is sitting on a bench" not in learned  # seen in 1 of 10 frames only
    matches = matcher.frame_margins(frames)
    assert matches.margins[0] > 0 and matches.margins[9] > 0
    assert matches.margins[7] < 0
    # Similarity 0.8 * 1.0 to the learned clause beats 1.01 / sqrt(3.01 * 1.01) to "Walking".
    assert matches.evidence(7)[2] == "scene:a person is walking under a tree"


def test_matcher_embeds_each_distinct_clause_once() -> None:
    embedder = WordEmbedder(VOCAB)
    matcher = RuleMatcher(rules_of(["Running"], ["Walking"]), embedder, scene_prior=False)
    matcher.frame_margins(["The first person is running."] * 50 + ["One person is running."])
    clause_calls = [c for c in embedder.calls if "a person is running" in c]
    assert clause_calls == [["a person is running"]]
