"""Texts written from an explanation's evidence alone.

:func:`facts` are what a model may use; :func:`template_text` is the account used when no
model is given or its text does not pass the checks.
"""

from __future__ import annotations

from vlad.answer.explanation import Evidence, Explanation
from vlad.utils.clock import clock, span


def evidence_line(evidence: Evidence, kind: str = "video") -> str:
    """One line of facts about an evidence, as given to models and shown to people."""
    parts = [i.describe() for i in evidence.fired()]
    if evidence.memory_score is not None:
        parts.append(f"memory score {evidence.memory_score:.2f}")
    parts.extend(i.describe() for i in evidence.neighbours())
    where = (
        "" if kind == "image" else f" {span(evidence.interval.start_s, evidence.interval.end_s)}"
    )
    peak = (
        "" if kind == "image" else f" (peak {evidence.score:.2f} at {clock(evidence.peak_time_s)})"
    )
    return f"[{evidence.id}]{where}{peak}: " + "; ".join(parts)


def facts(explanation: Explanation) -> list[str]:
    """The facts a model may use, one per line: verdict, then each evidence."""
    lines = [
        f"Verdict (decided by the scores): {explanation.verdict}; highest score "
        f"{explanation.score:.2f}, threshold {explanation.threshold:.2f}."
    ]
    if explanation.scene:
        lines.append(f"Scene: {explanation.scene}.")
    if explanation.kind == "video":
        lines.append(f"Video length: {clock(explanation.duration_s)}.")
    lines.extend(evidence_line(e, explanation.kind) for e in explanation.evidence)
    if not explanation.evidence:
        lines.append("No interval reached the threshold.")
    return lines


def template_text(explanation: Explanation) -> str:
    """The account of an explanation built from its evidence alone (no model).

    Args:
        explanation: The explanation.

    Returns:
        A few sentences; every time stated lies in an interval and every id cited exists.
    """
    if explanation.kind == "image":
        if not explanation.anomalous:
            return (
                f"Normal: the image scores {explanation.score:.2f}, below the threshold "
                f"{explanation.threshold:.2f}."
            )
        [evidence] = explanation.evidence[:1] or [None]
        detail = "; ".join(i.describe() for i in evidence.items) if evidence else ""
        where = " The heat map shows where." if explanation.keyframes else ""
        return (
            f"Anomalous [{evidence.id if evidence else 'E1'}]: the image scores "
            f"{explanation.score:.2f} (threshold {explanation.threshold:.2f}); {detail}.{where}"
        )
    if not explanation.anomalous:
        top = _top_definition(explanation)
        about = f' ("{top}")' if top else ""
        return (
            f"Normal: no score reached the threshold {explanation.threshold:.2f}; the "
            f"highest was {explanation.score:.2f}{about}."
        )
    count = len(explanation.evidence)
    lines = [f"Anomalous: {count} interval{'s' if count != 1 else ''} found."]
    for evidence in explanation.evidence:
        lines.append(_evidence_sentence(evidence))
    return " ".join(lines)


def _evidence_sentence(evidence: Evidence) -> str:
    fired = evidence.fired()
    what = ", ".join(
        (f'rule {i.ref} "{i.text}"' if i.kind == "rule" else f'"{i.text}"') + f" ({i.score:.2f})"
        for i in fired
    )
    sentence = (
        f"[{evidence.id}] {span(evidence.interval.start_s, evidence.interval.end_s)}: "
        f"{what or 'the retrieval memory'} fired, peak {evidence.score:.2f} at "
        f"{clock(evidence.peak_time_s)}"
    )
    neighbours = evidence.neighbours()
    if neighbours:
        near = "; ".join(f'"{n.text}" ({n.label}, {n.score:.2f})' for n in neighbours[:3])
        sentence += f"; nearest memory captions: {near}"
    return sentence + "."


def _top_definition(explanation: Explanation) -> str | None:
    best: tuple[float, str | None] = (-1.0, None)
    for track in explanation.tracks:
        if len(track.values) and float(track.values.max()) > best[0]:
            best = (float(track.values.max()), track.definition)
    return best[1]
