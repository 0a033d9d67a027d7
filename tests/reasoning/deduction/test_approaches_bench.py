"""The small functions of bench/bench_deduction_approaches.py, on hand-built inputs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("bench_deduction_approaches")
    finally:
        sys.path.remove(str(BENCH))


def test_old_text_switches_off_one_step_each(bench: ModuleType) -> None:
    from vlad.reasoning.deduction import canonical_clause, rule_phrases

    rule = "Riding a bicycle or scooter"
    assert "Riding a scooter" in rule_phrases(rule)
    assert "Riding a scooter" not in bench.old_rule_phrases(rule)
    assert "Riding a bicycle" in bench.old_rule_phrases(rule)
    assert canonical_clause("another is running") == "a person is running"
    assert bench.old_canonical_clause("another is running") == "another is running"
    assert bench.old_canonical_clause("The fifth person is running") == "a person is running"


def test_text_variant_restores_the_matcher(bench: ModuleType) -> None:
    import vlad.reasoning.deduction.matcher as matcher

    before = matcher.canonical_clause
    with bench.text_variant("old"):
        assert matcher.canonical_clause is bench.old_canonical_clause
    assert matcher.canonical_clause is before


def test_pooling_and_video_counts(bench: ModuleType) -> None:
    ids = np.array([[0, 1, -1], [2, -1, -1], [-1, -1, -1], [1, 1, 0]])
    clauses = bench.Clauses("x", [], None, None, ["a", "b", "c"], ids, [(0, 4)])
    margins = np.array([0.4, -0.2, 0.1])
    assert bench.pool_frames(clauses, margins).tolist() == pytest.approx([0.4, 0.1, 0.0, 0.4])
    top2 = bench.pool_frames(clauses, margins, top=2)
    assert top2.tolist() == pytest.approx([0.1, 0.1, 0.0, 0.1])
    assert bench._video_counts(ids, 3).tolist() == [2, 2, 1]


def test_frequent_clause_norm_uses_clauses_not_frames(bench: ModuleType) -> None:
    # Clause 0 (margin 0.5) is in every frame, clause 1 (margin -0.1) in 3 of 4: both are
    # frequent, so the reference is their median 0.2, not the median frame margin 0.5.
    ids = np.array([[0, 1], [0, 1], [0, 1], [0, -1]])
    padded = np.array([0.5, -0.1, -np.inf])
    frames = np.array([0.5, 0.5, 0.5, 0.5])
    out = bench.frequent_clause_norm(1.0)(frames, ids, padded, padded)
    assert out.tolist() == pytest.approx([0.3, 0.3, 0.3, 0.3])


def test_caption_count(bench: ModuleType) -> None:
    assert bench.caption_count("There are 12 people in the image.") == 12.0
    assert bench.caption_count("There are two people. One is walking.") == 2.0
    assert bench.caption_count("A crowd gathers.") == 15.0
    assert np.isnan(bench.caption_count("A car is parked."))


def test_qualifies_needs_two_gains_and_a_small_loss(bench: ModuleType) -> None:
    base = {"ped2": 0.9, "avenue": 0.7, "shanghaitech": 0.8}
    assert bench.qualifies({"ped2": 0.91, "avenue": 0.71, "shanghaitech": 0.796}, base)
    assert not bench.qualifies({"ped2": 0.91, "avenue": 0.71, "shanghaitech": 0.79}, base)
    assert not bench.qualifies({"ped2": 0.91, "avenue": 0.7, "shanghaitech": 0.8}, base)
    assert not bench.qualifies({"ped2": 0.9004, "avenue": 0.7004, "shanghaitech": 0.8}, base)
