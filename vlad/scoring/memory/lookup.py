"""Asking a memory about texts: the embedder to query it with, scores with their reasons.

These return JSON-ready dicts; the ``vlad memory`` commands print them (as JSON, or as text
through :mod:`vlad.cli.memory`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vlad.errors import InputError
from vlad.scoring.memory.index import MemoryIndex
from vlad.scoring.memory.math import flashback_scores
from vlad.scoring.memory.records import DEFAULT_K, LABELS

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

__all__ = ["load_query_embedder", "query", "summarize"]


def load_query_embedder(
    index: MemoryIndex, spec: str | None = None, *, device: str = "auto"
) -> TextEmbedder:
    """Load the embedder to query a memory with: ``spec``, or the one the memory records.

    Args:
        index: The memory.
        spec: A :func:`~vlad.encoders.text.load_embedder` spec; None for the manifest's.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The embedder, checked against the memory's embedder name and dimension.

    Raises:
        InputError: No spec is given and the memory records none (``param="spec"``), or
            the embedder does not match the memory.
    """
    from vlad.encoders.text import load_embedder

    spec = spec or index.manifest.embedder_spec
    if not spec:
        raise InputError(
            f"{index.location.capitalize()} does not record how to load its embedder "
            f"'{index.embedder}'; pass spec, e.g. 'minilm'.",
            param="spec",
        )
    embedder = load_embedder(spec, device=device)
    index.check_embedder(embedder)
    return embedder


def summarize(index: MemoryIndex, *, examples: int = 3) -> dict[str, Any]:
    """A memory's counts, embedder, settings and a few examples (``vlad memory show``).

    Args:
        index: The memory.
        examples: Example captions per label.

    Returns:
        A JSON-ready dict.
    """
    texts, labels, categories = index.texts, index.labels, index.categories
    label_counts = Counter(labels)
    by_category: dict[str, dict[str, int]] = {}
    for category, label in zip(categories, labels, strict=True):
        counts = by_category.setdefault(category or "(none)", {"normal": 0, "anomalous": 0})
        counts[label] += 1
    picks: dict[str, list[str]] = {label: [] for label in LABELS}
    for text, label in zip(texts, labels, strict=True):
        if len(picks[label]) < examples:
            picks[label].append(text)
        if all(len(v) >= examples for v in picks.values()):
            break
    manifest = index.manifest
    return {
        "folder": str(index.folder) if index.folder else None,
        "count": index.count,
        "labels": {label: label_counts.get(label, 0) for label in LABELS},
        "categories": dict(sorted(by_category.items())),
        "embedder": manifest.embedder,
        "embedder_spec": manifest.embedder_spec,
        "dim": manifest.dim,
        "alpha": manifest.alpha,
        "dedup_threshold": manifest.dedup_threshold,
        "removed_duplicates": manifest.removed_duplicates,
        "ann": index.ann.info() if index.ann is not None else None,
        "created": manifest.created,
        "vlad_version": manifest.vlad_version,
        "format_version": manifest.format_version,
        "examples": picks,
    }


def query(
    index: MemoryIndex,
    texts: str | Sequence[str],
    embedder: TextEmbedder,
    *,
    k: int = DEFAULT_K,
    alpha: float | None = None,
) -> list[dict[str, Any]]:
    """Score texts against a memory and list the neighbours behind each score.

    Args:
        index: The memory.
        texts: One text or several.
        embedder: Must be the embedder the memory was built with.
        k: Neighbours per text.
        alpha: Penalisation; None for the memory's.

    Returns:
        One JSON-ready dict per text: ``text``, ``score``, ``k``, ``alpha`` and
        ``neighbors`` (each with ``text``, ``label``, ``category``, ``similarity``,
        ``penalised_similarity``, ``weight`` and ``index``).

    Raises:
        InputError: The embedder does not match the memory, or a text is empty
            (``param="texts"``).
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    for text in items:
        if not text.strip():
            raise InputError("A query text is empty; pass sentences in texts.", param="texts")
    index.check_embedder(embedder)
    alpha = index.alpha if alpha is None else alpha
    rows = index.unit_queries(embedder.embed(items))
    scores, indices = index.search(rows, k, alpha=alpha)
    values = flashback_scores(scores, index.anomalous[indices])
    return [
        {
            "text": text,
            "score": round(float(value), 6),
            "k": int(indices.shape[1]),
            "alpha": alpha,
            "neighbors": [n.to_record() for n in index.neighbors(row, s, i)],
        }
        for text, value, row, s, i in zip(items, values, rows, scores, indices, strict=True)
    ]
