"""The memory: captions with their unit embeddings, searched and scored the Flashback way.

:class:`MemoryIndex` holds the entries and their embeddings, searches them exactly or
through a FAISS index (:mod:`vlad.scoring.memory.ann`) and scores queries with the pure
maths of :mod:`vlad.scoring.memory.math`; :meth:`MemoryIndex.save` and
:meth:`MemoryIndex.load` use the folder format of :mod:`vlad.scoring.memory.storage`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.scoring.memory.ann import AnnIndex, faiss_available, inner_products_by_ids
from vlad.scoring.memory.math import check_alpha, exact_search, flashback_scores, top_k
from vlad.scoring.memory.records import (
    ANN_MIN_ENTRIES,
    DEFAULT_ALPHA,
    DEFAULT_K,
    DEFAULT_RERANK_FACTOR,
    ENTRIES_FILE,
    MemoryEntry,
    MemoryManifest,
    Neighbor,
    SearchMethod,
)
from vlad.scoring.memory.storage import (
    read_ann,
    read_embeddings,
    read_entries,
    read_manifest,
    vlad_version,
    write_folder,
)

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

__all__ = ["MemoryIndex"]

log = logging.getLogger(__name__)


class MemoryIndex:
    """Captions with their unit embeddings, searchable and scorable the Flashback way.

    Build one with :meth:`from_entries`, :func:`~vlad.scoring.memory.build.build_memory`
    or :func:`~vlad.scoring.memory.build.build_from_captions`; read one with :meth:`load`.

    Args:
        texts: Caption texts.
        labels: ``"normal"`` or ``"anomalous"`` per caption.
        categories: Category per caption ("" when none).
        sources: Origin per caption.
        embeddings: (N, D) float32 unit rows (may be memory-mapped).
        manifest: The memory's manifest (its count and dim must match).
        ann: An :class:`AnnIndex` over these embeddings, if any.
        folder: Folder the memory was loaded from, for messages.
    """

    def __init__(
        self,
        *,
        texts: Sequence[str],
        labels: Sequence[str],
        categories: Sequence[str],
        sources: Sequence[str],
        embeddings: np.ndarray,
        manifest: MemoryManifest,
        ann: AnnIndex | None = None,
        folder: Path | None = None,
    ) -> None:
        count = len(texts)
        if not (len(labels) == len(categories) == len(sources) == count):
            raise ValueError("texts, labels, categories and sources differ in length.")
        if embeddings.ndim != 2 or embeddings.shape != (count, manifest.dim):
            raise InputError(
                f"Memory embeddings have shape {embeddings.shape} but {count} entries of "
                f"dimension {manifest.dim} were expected; rebuild the memory."
            )
        if manifest.count != count:
            raise InputError(
                f"The manifest counts {manifest.count} entries but {count} were given; "
                "rebuild the memory."
            )
        self._texts = list(texts)
        self._labels = list(labels)
        self._categories = list(categories)
        self._sources = list(sources)
        self._anomalous = np.array([label == "anomalous" for label in labels], dtype=bool)
        self._embeddings = embeddings
        self.manifest = manifest
        self.folder = folder
        self._ann = ann
        self._scales: dict[float, np.ndarray] = {}
        self._warned_slow = False

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_entries(
        cls,
        entries: Sequence[MemoryEntry],
        embeddings: np.ndarray,
        *,
        embedder: str,
        alpha: float = DEFAULT_ALPHA,
        embedder_spec: str | None = None,
        dedup_threshold: float | None = None,
        removed_duplicates: int = 0,
    ) -> MemoryIndex:
        """A memory from entries and their embeddings (rows are L2-normalised here).

        Args:
            entries: The captions.
            embeddings: (len(entries), D) embeddings, one row per entry.
            embedder: Name of the embedder that made them.
            alpha: Penalisation the memory is meant to be queried with, in (0, 1].
            embedder_spec: The spec to reload the embedder with, when known.
            dedup_threshold: Threshold used to drop near-duplicates, for the manifest.
            removed_duplicates: How many captions were dropped, for the manifest.

        Returns:
            The memory (not saved).

        Raises:
            InputError: No entries, a row count that differs from the entries, or
                non-finite or all-zero embeddings.
            ConfigError: alpha outside (0, 1].
        """
        check_alpha(alpha)
        rows = np.asarray(embeddings, dtype=np.float32)
        if not entries:
            raise InputError("A memory needs at least one caption; give it some entries.")
        if rows.ndim != 2 or rows.shape[0] != len(entries):
            raise InputError(
                f"Got embeddings of shape {rows.shape} for {len(entries)} entries; give one "
                "row per entry."
            )
        if not np.isfinite(rows).all():
            raise InputError("Memory embeddings contain NaN or infinity; check the embedder.")
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        if (norms == 0).any():
            raise InputError("A memory embedding is all zeros; check the embedder.")
        manifest = MemoryManifest(
            embedder=embedder,
            dim=int(rows.shape[1]),
            count=len(entries),
            alpha=float(alpha),
            embedder_spec=embedder_spec,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            vlad_version=vlad_version(),
            dedup_threshold=dedup_threshold,
            removed_duplicates=removed_duplicates,
        )
        return cls(
            texts=[e.text for e in entries],
            labels=[e.label for e in entries],
            categories=[e.category for e in entries],
            sources=[e.source for e in entries],
            embeddings=rows / norms,
            manifest=manifest,
        )

    # -- properties --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def count(self) -> int:
        """Number of entries."""
        return len(self._texts)

    @property
    def dim(self) -> int:
        """Embedding size."""
        return self.manifest.dim

    @property
    def embedder(self) -> str:
        """Name of the embedder the memory was built with."""
        return self.manifest.embedder

    @property
    def alpha(self) -> float:
        """Penalisation of anomalous entries used by default."""
        return self.manifest.alpha

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D) float32 unit rows (memory-mapped when loaded so)."""
        return self._embeddings

    @property
    def anomalous(self) -> np.ndarray:
        """(N,) booleans, True for anomalous entries."""
        return self._anomalous

    @property
    def ann(self) -> AnnIndex | None:
        """The FAISS index, when one was built or loaded."""
        return self._ann

    @property
    def texts(self) -> tuple[str, ...]:
        """The caption of every entry, in row order."""
        return tuple(self._texts)

    @property
    def labels(self) -> tuple[str, ...]:
        """The label (``"normal"`` or ``"anomalous"``) of every entry, in row order."""
        return tuple(self._labels)

    @property
    def categories(self) -> tuple[str, ...]:
        """The category of every entry ("" when none), in row order."""
        return tuple(self._categories)

    @property
    def location(self) -> str:
        """The memory as messages name it: ``the memory in 'FOLDER'`` or ``the memory``."""
        return f"the memory in '{self.folder}'" if self.folder else "the memory"

    def entry(self, index: int) -> MemoryEntry:
        """The entry at a row."""
        return MemoryEntry(
            self._texts[index], self._labels[index], self._categories[index], self._sources[index]
        )

    @property
    def entries(self) -> list[MemoryEntry]:
        """All entries (built on each call; use :meth:`entry` for a few)."""
        return [self.entry(i) for i in range(self.count)]

    # -- checks ------------------------------------------------------------------------

    def check_embedder(self, embedder: TextEmbedder) -> None:
        """Make sure query embeddings from this embedder fit the memory.

        Raises:
            InputError: The embedder's name or dimension differs from the manifest's.
        """
        if embedder.name != self.embedder or int(embedder.dim) != self.dim:
            hint = (
                f"the embedder spec '{self.manifest.embedder_spec}'"
                if self.manifest.embedder_spec
                else f"the embedder '{self.embedder}'"
            )
            raise InputError(
                f"{self.location.capitalize()} was built with embedder '{self.embedder}' "
                f"(dim {self.dim}) but the query uses '{embedder.name}' (dim {embedder.dim}); "
                f"query it with {hint} or rebuild the memory with this embedder."
            )

    def unit_queries(self, queries: np.ndarray) -> np.ndarray:
        """Check query embeddings against the memory and L2-normalise them.

        Args:
            queries: (Q, D) or (D,) embeddings.

        Returns:
            (Q, D) contiguous float32 unit rows.

        Raises:
            InputError: A dimension other than the memory's, or non-finite or zero rows.
        """
        rows = np.asarray(queries, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise InputError(
                f"Query embeddings of shape {np.shape(queries)} do not fit {self.location} "
                f"of dimension {self.dim}; embed the queries with '{self.embedder}'."
            )
        # a row with NaN or infinity has a non-finite norm: check the (Q,) norms, not (Q, D)
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
        if not np.isfinite(norms).all():
            if not np.isfinite(rows).all():
                raise InputError("Query embeddings contain NaN or infinity; check the encoder.")
            rows = rows / np.abs(rows).max(axis=1, keepdims=True)  # squares overflowed
            norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
        if (norms == 0).any():
            raise InputError("A query embedding is all zeros; check the encoder.")
        return np.ascontiguousarray(rows / norms)

    # -- search and scoring --------------------------------------------------------------

    def _column_scale(self, alpha: float) -> np.ndarray | None:
        if alpha == 1.0 or not self._anomalous.any():
            return None
        if alpha not in self._scales:
            self._scales[alpha] = np.where(self._anomalous, np.float32(alpha), np.float32(1.0))
        return self._scales[alpha]

    def _use_ann(self, method: SearchMethod) -> bool:
        if method == "exact":
            return False
        if method == "ann":
            if self._ann is None:
                self.build_ann()
            return True
        if method != "auto":
            raise ConfigError(
                f"Unknown search method '{method}'; set method to auto, exact or ann.",
                param="method",
            )
        if self._ann is not None:  # built on request, or loaded: the user wants it used
            return True
        if self.count < ANN_MIN_ENTRIES:
            return False
        if faiss_available():
            log.warning(
                "Building a FAISS index for %d memory entries (once; save the memory to keep it).",
                self.count,
            )
            self.build_ann()
            return True
        if not self._warned_slow:
            log.warning(
                "Searching %d memory entries exactly is slow; install vlad[faiss] for an "
                "approximate index.",
                self.count,
            )
            self._warned_slow = True
        return False

    def build_ann(
        self,
        *,
        factory: str | None = None,
        nprobe: int | None = None,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
        progress: bool = True,
    ) -> AnnIndex:
        """Build (or rebuild) the FAISS index over this memory; saved with the memory.

        Args:
            factory: FAISS factory string; None picks one for the size (:func:`ann_factory`).
            nprobe: Inverted lists visited per query; None for :func:`default_nprobe`.
            rerank_factor: Candidates fetched per wanted neighbour before exact re-ranking.
            progress: Show a progress bar.

        Returns:
            The index, also kept on the memory.
        """
        self._ann = AnnIndex.build(
            self._embeddings,
            self._anomalous,
            alpha=self.alpha,
            factory=factory,
            nprobe=nprobe,
            rerank_factor=rerank_factor,
            progress=progress,
        )
        return self._ann

    def search(
        self,
        queries: np.ndarray,
        k: int = DEFAULT_K,
        *,
        alpha: float = 1.0,
        method: SearchMethod = "auto",
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest entries of each query by (penalised) cosine similarity.

        Args:
            queries: (Q, D) or (D,) query embeddings (L2-normalised here).
            k: Neighbours per query (at most the memory's size).
            alpha: Factor on the similarity of anomalous entries; 1 for plain search.
            method: ``exact``, ``ann`` (FAISS; built when missing) or ``auto`` (FAISS when
                the memory has an index, which it builds itself from
                :data:`ANN_MIN_ENTRIES` entries when FAISS is installed; else exact).

        Returns:
            (scores, indices), both (Q, min(k, N)): penalised similarities in descending
            order (ties: lower index first) and entry rows.

        Raises:
            InputError: Queries of the wrong dimension, or non-finite or zero queries.
            ConfigError: k below 1, alpha outside (0, 1], or an unknown method.
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}.", param="k")
        check_alpha(alpha)
        rows = self.unit_queries(queries)
        k = min(int(k), self.count)
        if self._use_ann(method):
            return self._ann_search(rows, k, alpha)
        return exact_search(self._embeddings, rows, k, column_scale=self._column_scale(alpha))

    def _ann_search(
        self, queries: np.ndarray, k: int, alpha: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """FAISS candidates, re-ranked by exact penalised similarity; exact where too few."""
        assert self._ann is not None
        factor = self._ann.rerank_factor * (1 if alpha == self._ann.alpha else 2)
        fetch = min(self.count, max(k * factor, k + 1))
        candidates = self._ann.candidates(queries, fetch)
        scale = self._column_scale(alpha)
        valid = candidates >= 0
        safe = np.where(valid, candidates, 0)
        sims = inner_products_by_ids(self._embeddings, queries, safe)
        if scale is not None:
            sims *= scale[safe]
        sims[~valid] = -np.inf
        scores, indices = top_k(sims, k, ids=np.where(valid, candidates, np.iinfo(np.int64).max))
        short = np.flatnonzero(~np.isfinite(scores).all(axis=1))
        if short.size:  # the probed lists held fewer than k entries: search those exactly
            exact_vals, exact_idx = exact_search(
                self._embeddings, queries[short], k, column_scale=scale
            )
            scores[short], indices[short] = exact_vals, exact_idx
        return scores, indices

    def respond(
        self,
        queries: np.ndarray,
        k: int = DEFAULT_K,
        *,
        alpha: float | None = None,
        method: SearchMethod = "auto",
    ) -> np.ndarray:
        """Flashback anomaly scores: similarity-weighted share of anomalous neighbours.

        Args:
            queries: (Q, D) or (D,) segment (or text) embeddings.
            k: Neighbours per query (Flashback uses 10).
            alpha: Penalisation of anomalous entries; None for the memory's (0.95 unless
                built otherwise).
            method: See :meth:`search`.

        Returns:
            Float32 (Q,) scores in [0, 1] (see the module docstring for the exact formula).
        """
        alpha = self.alpha if alpha is None else alpha
        scores, indices = self.search(queries, k, alpha=alpha, method=method)
        return flashback_scores(scores, self._anomalous[indices])

    def explain(
        self,
        query: np.ndarray,
        k: int = DEFAULT_K,
        *,
        alpha: float | None = None,
        method: SearchMethod = "auto",
    ) -> list[Neighbor]:
        """The neighbours behind one query's score, best first.

        Args:
            query: (D,) or (1, D) embedding.
            k: Neighbours.
            alpha: Penalisation; None for the memory's.
            method: See :meth:`search`.

        Returns:
            The neighbours, with cosine and penalised similarities and their weights.
        """
        alpha = self.alpha if alpha is None else alpha
        rows = np.asarray(query, dtype=np.float32)
        if rows.ndim == 2 and rows.shape[0] != 1:
            raise InputError(
                f"explain takes one query but got {rows.shape[0]}; call it once per query."
            )
        scores, indices = self.search(rows, k, alpha=alpha, method=method)
        return self.neighbors(self.unit_queries(rows)[0], scores[0], indices[0])

    def neighbors(
        self, query: np.ndarray, scores: np.ndarray, indices: np.ndarray
    ) -> list[Neighbor]:
        """Neighbour records of one query from its search results.

        Args:
            query: (D,) unit row (from :meth:`unit_queries`).
            scores: (K,) its penalised similarities from :meth:`search`.
            indices: (K,) its entry rows from :meth:`search`.

        Returns:
            The neighbours, best first, with cosine and penalised similarities and weights.
        """
        weights = np.clip(scores.astype(np.float64), 0.0, None)
        total = weights.sum()
        cosines = np.asarray(self._embeddings[indices], dtype=np.float32) @ query
        return [
            Neighbor(
                index=int(row),
                text=self._texts[row],
                label=self._labels[row],
                category=self._categories[row],
                similarity=float(cosine),
                penalised_similarity=float(score),
                weight=float(weight / total) if total > 0 else 0.0,
            )
            for score, row, weight, cosine in zip(scores, indices, weights, cosines, strict=True)
        ]

    # -- files -------------------------------------------------------------------------

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the memory to a folder, atomically.

        The files go to a hidden temporary folder beside the target, ``manifest.json``
        last, and the folder is renamed into place; a stopped save removes that hidden
        folder and never leaves a target that loads as complete
        (:func:`~vlad.scoring.memory.storage.write_folder`).

        Args:
            folder: Target folder (created; its parent too).
            overwrite: Replace an existing folder.

        Returns:
            The folder.

        Raises:
            InputError: The folder exists and ``overwrite`` is False, or it is a file.
        """
        target = Path(folder)
        entries = (self.entry(i) for i in range(self.count))
        manifest = write_folder(
            target, entries, self._embeddings, self.manifest, ann=self._ann, overwrite=overwrite
        )
        self.manifest = manifest
        self.folder = target
        return target

    @classmethod
    def load(cls, folder: str | Path, *, mmap: bool = True) -> MemoryIndex:
        """Read a memory folder written by :meth:`save`.

        Args:
            folder: The folder.
            mmap: Memory-map the embeddings instead of reading them into memory.

        Returns:
            The memory (with its FAISS index when one was saved and FAISS is installed).

        Raises:
            InputError: A missing folder or file, a corrupt manifest, embeddings file or
                entry line, or files that disagree on the count or the dimension.
        """
        root = Path(folder)
        if not root.is_dir():
            raise InputError(
                f"Memory folder '{root}' does not exist; build one with vlad memory build."
            )
        manifest = read_manifest(root)
        embeddings = read_embeddings(root, manifest, mmap=mmap)
        texts, labels, categories, sources = read_entries(root / ENTRIES_FILE, manifest.count)
        ann = read_ann(root, manifest)
        return cls(
            texts=texts,
            labels=labels,
            categories=categories,
            sources=sources,
            embeddings=embeddings,
            manifest=manifest,
            ann=ann,
            folder=root,
        )
