"""The rule set as a retrieval memory: one entry per rule phrase, cited by rule id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vlad.errors import ConfigError
from vlad.reasoning.deduction.clauses import rule_phrases

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.rules import RuleSet
    from vlad.scoring.memory import MemoryIndex


def rules_to_memory(
    rules: RuleSet, embedder: TextEmbedder, *, embedder_spec: str | None = None
) -> MemoryIndex:
    """The rule set as a retrieval memory: one entry per rule phrase, cited by rule id.

    Each phrase of :func:`rule_phrases` becomes a memory entry (``anomalous`` for anomaly
    rules, ``normal`` for normal ones) whose ``source`` is ``rule:<id>``, so the memory's
    neighbours of a query name the rules they come from. Save it with
    ``MemoryIndex.save(DIR)`` and query it like any memory (``vlad memory query DIR``;
    with a CLIP text embedder, ``vlad detect VIDEO --memory DIR``).

    Args:
        rules: The rule set.
        embedder: Text embedder for the phrases.
        embedder_spec: The spec to reload the embedder with (stored in the manifest).

    Returns:
        A :class:`~vlad.scoring.memory.MemoryIndex` (not saved).
    """
    from vlad.scoring.memory import MemoryEntry, MemoryIndex

    entries: list[MemoryEntry] = []
    for rule in rules.rules:
        for phrase in rule_phrases(rule.text):
            entries.append(
                MemoryEntry(
                    text=phrase,
                    label="anomalous" if rule.anomalous else "normal",
                    category=rule.category,
                    source=f"rule:{rule.id}",
                )
            )
    if not entries:
        raise ConfigError(
            "The rule set is empty; add rules before making a memory of it.", param="rules"
        )
    vectors = np.asarray(embedder.embed([e.text for e in entries]), dtype=np.float32)
    return MemoryIndex.from_entries(
        entries, vectors, embedder=embedder.name, embedder_spec=embedder_spec
    )
