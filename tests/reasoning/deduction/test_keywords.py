"""The keyword baseline."""

from __future__ import annotations

from tests.reasoning.deduction.helpers import (
    rules_of,
)
from vlad.reasoning.deduction.keywords import keyword_scores, keyword_set


def test_keywords_are_anomaly_words_absent_from_normal_rules() -> None:
    rules = rules_of(["Running or jumping", "Riding a bicycle"], ["Walking", "Riding the elevator"])
    assert keyword_set(rules) == {"running", "jumping", "bicycle"}
    scores = keyword_scores(["a man runs", "he is running and jumping", "bicycles!"], {"running"})
    assert scores.tolist() == [0.0, 1.0, 0.0]
    assert keyword_scores(["two bicycles", "a bike"], {"bicycle"}).tolist() == [1.0, 0.0]
