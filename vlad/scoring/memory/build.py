"""Building a memory (Flashback's Recall stage, from a caption file).

An LLM writes a pseudo-scene memory of short captions, each labelled normal or anomalous
(:mod:`vlad.reasoning.recall`); here they come from a JSON-lines file
(:func:`build_from_captions`), are embedded by a :class:`~vlad.encoders.text.TextEmbedder`,
near-duplicates of one label are dropped, and the result is a
:class:`~vlad.scoring.memory.MemoryIndex`, saved with :meth:`~vlad.scoring.memory.MemoryIndex.save`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.scoring.memory.ann import faiss_available
from vlad.scoring.memory.index import MemoryIndex
from vlad.scoring.memory.math import check_alpha, near_duplicate_mask
from vlad.scoring.memory.records import (
    ANN_MIN_ENTRIES,
    DEFAULT_ALPHA,
    DEFAULT_DEDUP_THRESHOLD,
    LABELS,
    MemoryEntry,
)

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

__all__ = [
    "build_from_captions",
    "build_memory",
    "embed_texts",
    "one_label_warning",
    "read_captions",
]

log = logging.getLogger(__name__)

_EMBED_CHUNK = 256  # captions per embedder call (one progress step)


@dataclass
class _Captions:
    """A parsed caption file: its entries and how many exact repeats were dropped."""

    entries: list[MemoryEntry] = field(default_factory=list)
    exact_duplicates: int = 0


def read_captions(path: str | Path) -> list[MemoryEntry]:
    """Read a caption file: one JSON object per line, blank lines skipped.

    Each object has ``"text"`` (non-empty) and ``"label"`` (``"normal"`` or
    ``"anomalous"``, any case), optionally ``"category"`` and ``"source"`` (default
    ``FILE:LINE``). A caption repeated with the same label is kept once.

    Args:
        path: The JSON-lines file.

    Returns:
        The entries, in file order.

    Raises:
        InputError: A missing, unreadable or empty file, or a line that is not valid JSON,
            has no text, an unknown label, a non-string category, or repeats an earlier
            caption with the other label (each message names the file and line).
    """
    return _parse_captions(Path(path)).entries


def _parse_captions(path: Path) -> _Captions:
    """Parse and check a whole caption file (see :func:`read_captions`)."""
    shape = 'one {"text": ..., "label": "normal" or "anomalous"} object per line'
    if not path.is_file():
        raise InputError(
            f"Caption file '{path}' does not exist; pass a JSON-lines file with {shape}."
        )
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"Caption file '{path}' is not UTF-8 text; save it as UTF-8 JSON lines."
        ) from exc
    parsed = _Captions()
    first_seen: dict[str, tuple[int, str]] = {}
    for lineno, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        where = f"Line {lineno} of '{path}'"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not valid JSON ({exc.msg}); write {shape}.") from exc
        if not isinstance(record, dict):
            raise InputError(f"{where} is not a JSON object; write {shape}.")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f'{where} has no "text" (or it is empty); give every caption a text.')
        label = record.get("label")
        if not isinstance(label, str) or label.strip().lower() not in LABELS:
            raise InputError(f'{where} has label {label!r}; use "normal" or "anomalous".')
        category = record.get("category", "")
        if category is None:
            category = ""
        if not isinstance(category, str):
            raise InputError(f'{where} has a "category" that is not a string; write it as text.')
        source = record.get("source") or f"{path.name}:{lineno}"
        text, label = text.strip(), label.strip().lower()
        if text in first_seen:
            earlier, earlier_label = first_seen[text]
            if earlier_label != label:
                raise InputError(
                    f"{where} repeats the caption of line {earlier} with label {label} instead "
                    f"of {earlier_label}; keep one of the two."
                )
            parsed.exact_duplicates += 1
            continue
        first_seen[text] = (lineno, label)
        parsed.entries.append(MemoryEntry(text, label, category.strip(), str(source)))
    if not parsed.entries:
        raise InputError(f"Caption file '{path}' has no captions; write {shape}.")
    return parsed


def embed_texts(
    texts: Sequence[str],
    embedder: TextEmbedder,
    *,
    batch_size: int = 64,
    progress: bool = True,
    desc: str = "embedding captions",
) -> np.ndarray:
    """Embed many texts in chunks, with a progress bar on stderr.

    Args:
        texts: The texts.
        embedder: The embedder.
        batch_size: Texts per forward pass.
        progress: Show the progress bar.
        desc: Its label.

    Returns:
        Float32 (len(texts), embedder.dim).
    """
    import sys

    from tqdm import tqdm

    out = np.empty((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(
        total=len(texts), unit="caption", desc=desc, disable=not progress, file=sys.stderr
    ) as bar:
        for start in range(0, len(texts), _EMBED_CHUNK):
            chunk = texts[start : start + _EMBED_CHUNK]
            rows = embedder.embed(chunk, batch_size=batch_size)
            if rows.shape != (len(chunk), embedder.dim):
                raise InputError(
                    f"Embedder '{embedder.name}' returned shape {rows.shape} for {len(chunk)} "
                    f"texts instead of ({len(chunk)}, {embedder.dim}); check the embedder."
                )
            out[start : start + len(chunk)] = rows
            bar.update(len(chunk))
    return out


def build_memory(
    entries: Sequence[MemoryEntry],
    embedder: TextEmbedder,
    *,
    alpha: float = DEFAULT_ALPHA,
    dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD,
    embedder_spec: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    ann: bool | None = None,
    already_removed: int = 0,
) -> MemoryIndex:
    """Embed entries, drop near-duplicates of the same label, and make a memory.

    Args:
        entries: The captions.
        embedder: The text embedder.
        alpha: Penalisation stored in the manifest (used by :meth:`MemoryIndex.respond`).
        dedup_threshold: Cosine similarity at or above which a later caption of the same
            label is dropped as a near-duplicate; None keeps all.
        embedder_spec: Spec that reloads the embedder, stored in the manifest.
        batch_size: Texts per forward pass.
        progress: Show progress bars.
        ann: Build a FAISS index: None builds one from :data:`ANN_MIN_ENTRIES` entries
            when FAISS is installed.
        already_removed: Captions dropped before (exact repeats), added to the count.

    Returns:
        The memory (not saved).
    """
    check_alpha(alpha)
    if dedup_threshold is not None and not -1 <= dedup_threshold <= 1:
        raise ConfigError(
            f"dedup_threshold must be in [-1, 1], got {dedup_threshold}.",
            param="dedup_threshold",
        )
    embeddings = embed_texts(
        [e.text for e in entries], embedder, batch_size=batch_size, progress=progress
    )
    removed = already_removed
    if dedup_threshold is not None and len(entries) > 1:
        labels = np.array([e.anomalous for e in entries])
        keep = near_duplicate_mask(embeddings, labels, dedup_threshold)
        removed += int((~keep).sum())
        entries = [e for e, kept in zip(entries, keep, strict=True) if kept]
        embeddings = embeddings[keep]
    memory = MemoryIndex.from_entries(
        entries,
        embeddings,
        embedder=embedder.name,
        alpha=alpha,
        embedder_spec=embedder_spec,
        dedup_threshold=dedup_threshold,
        removed_duplicates=removed,
    )
    warning = one_label_warning(entries)
    if warning is not None:
        log.warning("%s", warning)
    if ann or (ann is None and memory.count >= ANN_MIN_ENTRIES and faiss_available()):
        memory.build_ann(progress=progress)
    return memory


def one_label_warning(entries: Sequence[MemoryEntry]) -> str | None:
    """The warning for a memory whose captions are all of one label, or None.

    A Flashback score is the similarity-weighted share of anomalous neighbours, so a
    memory of normal captions only scores every input 0.0, and one of anomalous captions
    only scores 1.0 (0.0 where no caption is similar): it cannot tell anything apart.

    Args:
        entries: The memory's entries.

    Returns:
        One sentence naming the missing label, or None when both labels are present (or
        there are no entries).

    Example:
        >>> print(one_label_warning([MemoryEntry("people walking", "normal")]))
        The memory has 1 normal caption and no anomalous one, so it scores every input 0.0; add anomalous captions.
    """  # noqa: E501
    anomalous = sum(1 for e in entries if e.anomalous)
    normal = len(entries) - anomalous
    if normal and not anomalous:
        return (
            f"The memory has {normal} normal caption{_plural(normal)} and no anomalous one, "
            "so it scores "
            "every input 0.0; add anomalous captions."
        )
    if anomalous and not normal:
        return (
            f"The memory has {anomalous} anomalous caption{_plural(anomalous)} and no normal "
            "one, so it scores "
            "every input 1.0 (0.0 where no caption is similar); add normal captions."
        )
    return None


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def build_from_captions(
    path: str | Path,
    embedder: TextEmbedder,
    *,
    alpha: float = DEFAULT_ALPHA,
    dedup_threshold: float | None = DEFAULT_DEDUP_THRESHOLD,
    embedder_spec: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> MemoryIndex:
    """Build a memory from a caption file (see :func:`read_captions` for its format).

    The whole file is checked before anything is embedded. Save the result with
    :meth:`MemoryIndex.save`.

    Args:
        path: JSON-lines caption file.
        embedder: The text embedder.
        alpha: Penalisation stored in the manifest.
        dedup_threshold: Near-duplicate threshold (None keeps all).
        embedder_spec: Spec that reloads the embedder, stored in the manifest.
        batch_size: Texts per forward pass.
        progress: Show progress bars.

    Returns:
        The memory.
    """
    parsed = _parse_captions(Path(path))
    return build_memory(
        parsed.entries,
        embedder,
        alpha=alpha,
        dedup_threshold=dedup_threshold,
        embedder_spec=embedder_spec,
        batch_size=batch_size,
        progress=progress,
        already_removed=parsed.exact_duplicates,
    )
