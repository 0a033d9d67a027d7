"""The rule set as a retrieval memory."""

from __future__ import annotations

from pathlib import Path

from tests.reasoning.deduction.helpers import (
    VOCAB,
    WordEmbedder,
    rules_of,
)


def test_rules_become_a_memory_whose_neighbours_cite_rules(tmp_path: Path) -> None:
    from vlad.reasoning.deduction.rule_memory import rules_to_memory
    from vlad.scoring.memory import MemoryIndex

    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Running", "Riding a bicycle or sitting on a bench"], ["Walking"])
    memory = rules_to_memory(rules, embedder)
    assert [(e.text, e.label, e.source) for e in memory.entries] == [
        ("Running", "anomalous", "rule:a1"),
        ("Riding a bicycle or sitting on a bench", "anomalous", "rule:a2"),
        ("Riding a bicycle", "anomalous", "rule:a2"),
        ("sitting on a bench", "anomalous", "rule:a2"),
        ("Walking", "normal", "rule:n1"),
    ]
    memory.save(tmp_path / "rules-memory")
    loaded = MemoryIndex.load(tmp_path / "rules-memory")
    [nearest] = loaded.explain(embedder.embed(["a person riding a bicycle"])[0], k=1)
    assert nearest.text == "Riding a bicycle"
    assert loaded.entry(nearest.index).source == "rule:a2"
