"""Clause-level retrieval of rules for frame descriptions (the fast path of deduction).

A clause's margin is its best similarity to an anomaly phrase minus its best similarity to
a normal reference (normal rules and, with the scene prior, the scene's frequent clauses);
a frame's margin is the largest over its clauses. :func:`margin_to_score` maps margins to
scores.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import ConfigError
from vlad.reasoning.deduction.clauses import canonical_clause, rule_phrases, split_clauses

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.rules import Rule, RuleSet

NO_ANOMALY_RULE = "The rule set has no anomaly rule; add one or pass definitions."


def margin_to_score(margin: np.ndarray | float, scale: float = 0.1) -> np.ndarray:
    """Map margins to scores in (0, 1) with a logistic of width ``scale``; 0 maps to 0.5."""
    return 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=np.float64) / scale))


@dataclass
class RuleMatcher:
    """Clause-level retrieval of rules for frame descriptions (the fast path).

    Args:
        rules: The rule set; it needs at least one anomaly rule.
        embedder: Text embedder for clauses and rule phrases (MiniLM by default elsewhere).
        scene_prior: Learn normal references from the scene's frequent clauses.
        prior_min_share: Share of frames a clause must appear in to count as normal.
        prior_max_margin: A frequent clause whose margin against the rules is at least this
            stays anomalous.
        prior_weight: Factor on similarities to the learned normal references.
        batch_size: Embedding batch size.
    """

    rules: RuleSet
    embedder: TextEmbedder
    scene_prior: bool = True
    prior_min_share: float = 0.01
    prior_max_margin: float = 0.3
    prior_weight: float = 0.7
    batch_size: int = 128
    _anomaly: np.ndarray = field(init=False, repr=False)
    _normal: np.ndarray = field(init=False, repr=False)
    _anomaly_rule: list[str] = field(init=False, repr=False)
    _normal_rule: list[str] = field(init=False, repr=False)
    _prior: np.ndarray | None = field(init=False, default=None, repr=False)
    _prior_texts: list[str] = field(init=False, default_factory=list, repr=False)
    _cache: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        anomaly = self.rules.anomaly()
        if not anomaly:
            raise ConfigError(NO_ANOMALY_RULE, param="definitions")
        if not 0 < self.prior_min_share <= 1:
            raise ConfigError(
                f"prior_min_share must lie in (0, 1], got {self.prior_min_share}.",
                param="prior_min_share",
            )
        if not 0 <= self.prior_weight <= 1:
            raise ConfigError(
                f"prior_weight must lie in [0, 1], got {self.prior_weight}.", param="prior_weight"
            )
        self._anomaly, self._anomaly_rule = self._phrases(anomaly)
        normal = self.rules.normal()
        if normal:
            self._normal, self._normal_rule = self._phrases(normal)
        else:
            self._normal = np.zeros((0, self._anomaly.shape[1]), dtype=np.float32)
            self._normal_rule = []

    def _phrases(self, rules: Sequence[Rule]) -> tuple[np.ndarray, list[str]]:
        texts: list[str] = []
        owners: list[str] = []
        for rule in rules:
            for phrase in rule_phrases(rule.text):
                texts.append(phrase)
                owners.append(rule.id)
        return self.embed(texts), owners

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, each distinct text embedded once."""
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if new:
            vectors = np.asarray(self.embedder.embed(new, batch_size=self.batch_size))
            vectors = vectors.astype(np.float32, copy=False)
            for text, vector in zip(new, vectors, strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, int(self.embedder.dim)), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def _best(self, vectors: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if table.shape[0] == 0:
            return np.full(len(vectors), -1.0, dtype=np.float32), np.zeros(len(vectors), int)
        sims = vectors @ table.T
        best = sims.argmax(axis=1)
        return sims[np.arange(len(vectors)), best], best

    def fit_scene(self, descriptions: Sequence[str]) -> list[str]:
        """Learn the scene's normal references from its descriptions (no labels).

        Args:
            descriptions: Every frame description of the footage to be judged.

        Returns:
            The clauses taken as normal references, most frequent first.
        """
        self._prior, self._prior_texts = None, []
        if not self.scene_prior or not descriptions:
            return []
        counts: Counter[str] = Counter()
        for description in descriptions:
            counts.update({canonical_clause(c) for c in split_clauses(description)})
        least = max(2, math.ceil(self.prior_min_share * len(descriptions)))
        frequent = [c for c, n in counts.most_common() if n >= least]
        if not frequent:
            return []
        vectors = self.embed(frequent)
        anomaly, _ = self._best(vectors, self._anomaly)
        normal, _ = self._best(vectors, self._normal)
        keep = (anomaly - normal) < self.prior_max_margin
        self._prior = vectors[keep]
        self._prior_texts = [c for c, k in zip(frequent, keep, strict=True) if k]
        return list(self._prior_texts)

    @property
    def scene_references(self) -> list[str]:
        """The clauses :meth:`fit_scene` took as normal references."""
        return list(self._prior_texts)

    def clause_margins(self, clauses: Sequence[str]) -> dict[str, Any]:
        """Margins of canonical clauses, with the anomaly and normal matches behind them.

        Args:
            clauses: Canonical clauses.

        Returns:
            Arrays ``margin``, ``anomaly_sim``, ``normal_sim``, and lists ``anomaly_rule``
            (rule id) and ``normal_ref`` (a rule id, or ``scene:<clause>``).
        """
        vectors = self.embed(clauses)
        a_sim, a_idx = self._best(vectors, self._anomaly)
        n_sim, n_idx = self._best(vectors, self._normal)
        n_ref = [self._normal_rule[i] if self._normal_rule else "" for i in n_idx]
        if self._prior is not None and len(self._prior):
            p_sim, p_idx = self._best(vectors, self._prior)
            p_sim = self.prior_weight * p_sim
            use = p_sim > n_sim
            n_sim = np.where(use, p_sim, n_sim)
            n_ref = [
                f"scene:{self._prior_texts[p]}" if u else r
                for u, p, r in zip(use, p_idx, n_ref, strict=True)
            ]
        return {
            "margin": (a_sim - n_sim).astype(np.float64),
            "anomaly_sim": a_sim.astype(np.float64),
            "normal_sim": n_sim.astype(np.float64),
            "anomaly_rule": [self._anomaly_rule[i] for i in a_idx],
            "normal_ref": n_ref,
        }

    def frame_margins(self, descriptions: Sequence[str]) -> FrameMatches:
        """The margin of each description and the clause and rules behind it.

        Args:
            descriptions: Frame descriptions (blank ones get margin 0 and no evidence).

        Returns:
            A :class:`FrameMatches`.
        """
        per_frame = [[canonical_clause(c) for c in split_clauses(d)] for d in descriptions]
        distinct = list(dict.fromkeys(c for clauses in per_frame for c in clauses))
        table = self.clause_margins(distinct) if distinct else None
        where = {c: i for i, c in enumerate(distinct)}
        margins = np.zeros(len(descriptions), dtype=np.float64)
        best: list[int | None] = []
        for i, clauses in enumerate(per_frame):
            if not clauses or table is None:
                best.append(None)
                continue
            ids = [where[c] for c in clauses]
            values = table["margin"][ids]
            top = int(values.argmax())
            margins[i] = float(values[top])
            best.append(ids[top])
        return FrameMatches(margins=margins, best=best, clauses=distinct, table=table)


@dataclass(frozen=True)
class FrameMatches:
    """Per-frame retrieval results of :meth:`RuleMatcher.frame_margins`.

    Attributes:
        margins: (N,) frame margins (largest clause margin).
        best: Per frame, the index into ``clauses`` of the clause behind the margin.
        clauses: Distinct canonical clauses.
        table: :meth:`RuleMatcher.clause_margins` of ``clauses``.
    """

    margins: np.ndarray
    best: list[int | None]
    clauses: list[str]
    table: dict[str, Any] | None

    def evidence(self, frame: int) -> tuple[str | None, str | None, str | None, float, float]:
        """(clause, anomaly rule id, normal reference, anomaly sim, normal sim) of a frame."""
        index = self.best[frame]
        if index is None or self.table is None:
            return None, None, None, 0.0, 0.0
        return (
            self.clauses[index],
            self.table["anomaly_rule"][index],
            self.table["normal_ref"][index],
            float(self.table["anomaly_sim"][index]),
            float(self.table["normal_sim"][index]),
        )
