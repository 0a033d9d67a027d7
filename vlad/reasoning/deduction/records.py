"""The records deduction returns: one judgement per frame, and what a run cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deduction:
    """The judgement of one frame description.

    Attributes:
        verdict: ``anomalous`` or ``normal``.
        score: Anomaly score in [0, 1] (0.5 is the decision boundary).
        rules: Ids of the rules cited (the anomaly rule matched, or the normal reference).
        reason: One sentence saying which clause matched which rule.
        clause: The clause behind the score, if any.
        margin: The (smoothed) margin the score comes from.
        source: ``retrieval``, ``llm`` or ``keywords``.
        evidence_frame: Index, in its video, of the frame whose clause is cited: the frame
            itself, or the neighbour whose clause decided the verdict after smoothing
            (``retrieval``, ``hybrid``; None otherwise).
        pattern: For a normal frame, the scene's usual clause it matched (the scene
            prior's normal reference), when that and not a normal rule was nearest.
    """

    verdict: str
    score: float
    rules: tuple[str, ...]
    reason: str
    clause: str | None = None
    margin: float = 0.0
    source: str = "retrieval"
    evidence_frame: int | None = None
    pattern: str | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "rules": list(self.rules),
            "reason": self.reason,
            "clause": self.clause,
            "margin": round(self.margin, 4),
            "source": self.source,
            "evidence_frame": self.evidence_frame,
            "pattern": self.pattern,
        }


@dataclass
class DeductionStats:
    """What a deduction run cost.

    Attributes:
        frames: Descriptions judged.
        llm_calls: Chat requests sent (cache hits included, since they were asked).
        llm_tokens: Tokens the LLM answers held, by a whitespace count.
        parse_failures: LLM answers with no usable verdict.
        clauses: Distinct canonical clauses embedded.
    """

    frames: int = 0
    llm_calls: int = 0
    llm_tokens: int = 0
    parse_failures: int = 0
    clauses: int = 0

    @property
    def llm_calls_per_frame(self) -> float:
        """LLM calls per judged frame (0 when no frame was judged)."""
        return self.llm_calls / self.frames if self.frames else 0.0
