"""The keyword baseline: content words of the anomaly rules, counted in each description."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vlad.reasoning.rules import RuleSet

_WORD = re.compile(r"[a-z]+")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "from",
        "by",
        "as",
        "such",
        "any",
        "its",
        "their",
        "this",
        "that",
        "these",
        "those",
        "is",
        "are",
        "be",
        "being",
        "been",
        "into",
        "onto",
        "near",
        "over",
        "under",
        "without",
        "within",
        "other",
        "than",
        "etc",
        "some",
        "very",
        "usual",
        "unusual",
        "area",
        "areas",
        "person",
        "people",
        "objects",
        "object",
        "things",
        "thing",
    }
)


def keyword_set(rules: RuleSet) -> set[str]:
    """Content words of the anomaly rules that no normal rule uses (the keyword baseline)."""

    def words(text: str) -> set[str]:
        return {w for w in _WORD.findall(text.lower()) if len(w) > 3 and w not in _STOPWORDS}

    normal: set[str] = set()
    for rule in rules.normal():
        normal |= words(rule.text)
    anomaly: set[str] = set()
    for rule in rules.anomaly():
        anomaly |= words(rule.text)
    return anomaly - normal


def keyword_scores(descriptions: Sequence[str], keywords: set[str]) -> np.ndarray:
    """How many keyword occurrences each description holds (a word matches by its stem).

    A description word matches a keyword when their first five letters agree ("bicycles"
    and "bicycle", "running" and "runner"); words shorter than three letters never match.
    """
    stems = {k[:5] for k in keywords}
    out = np.zeros(len(descriptions), dtype=np.float64)
    for i, text in enumerate(descriptions):
        out[i] = sum(1 for w in _WORD.findall(text.lower()) if len(w) > 2 and w[:5] in stems)
    return out
