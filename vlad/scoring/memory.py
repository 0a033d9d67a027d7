"""Retrieval memory of normal and anomalous captions, scored the Flashback way.

Flashback (zero-shot real-time video anomaly detection) works in two stages:

* **Recall** (offline): an LLM writes a pseudo-scene memory of short captions, each
  labelled normal or anomalous; here they come from a JSON-lines file
  (:func:`build_from_captions`), are embedded by a :class:`~vlad.encoders.text.TextEmbedder`,
  near-duplicates are dropped, and the result is a :class:`MemoryIndex` saved to a folder.
* **Respond** (online): each segment embedding retrieves its K nearest captions and its
  anomaly score is the similarity-weighted share of anomalous neighbours
  (:meth:`MemoryIndex.respond`).

The score, exactly (:func:`flashback_scores`). For a query q (L2-normalised) and a memory
entry i with unit embedding e_i, the *penalised similarity* is

    s_i = alpha * (q . e_i)   if entry i is anomalous,
    s_i =          q . e_i    if entry i is normal,

which equals scaling the anomalous embeddings by alpha (Flashback's "scaled anomaly
penalization", alpha = 0.95), so that ties and near-ties go to the normal side. The K
neighbours are the K entries with the largest s_i (ties broken by the lower entry index,
that is the earlier caption). With weights w_i = max(s_i, 0) over those neighbours,

    score = sum_i w_i * [i is anomalous] / sum_i w_i,

a number in [0, 1]; when every weight is 0 (no neighbour points the query's way) the score
is 0, for lack of evidence of an anomaly.

Search is exact below :data:`ANN_MIN_ENTRIES` entries (batched matrix products, in blocks
so that memory stays bounded), and above it uses a FAISS IVF-PQ fast-scan index (extra
``faiss``) over the penalised embeddings: it proposes 2k candidates per query, which are
re-ranked with exact penalised similarities (so scores are exact; only a missed neighbour
changes them). Queried with another alpha than the index was built for, it proposes 4k.
On 1M x 512 entries (``bench/bench_memory.py``) the default of 16 of 1,024 lists finds
about 98 % of the exact top 10. Without FAISS a large memory is searched exactly (slowly).
A smaller memory gets an index only on request (:meth:`MemoryIndex.build_ann`; saved with
it and used from then on): on the bench's 10k x 512 entries the default (128 lists, 4
probed) answers about 20 times faster than exact search with the same top 10, but 4-bit PQ
candidates miss neighbours where many captions are about equally close (recall@10 0.13 on
dense clusters, where ``factory="IVF128,SQ8"`` keeps 0.98 at a third of the speed; see
``bench/README.md``), which exact search never does.

A memory folder holds ``manifest.json`` (written last), ``entries.jsonl``,
``embeddings.npy`` (float32, loaded memory-mapped) and optionally ``ann.faiss``. It is
written to a hidden temporary folder first and renamed into place, so a stopped build never
leaves a folder that loads as complete.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vlad.errors import ConfigError, InputError, MissingDependencyError

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

log = logging.getLogger(__name__)

FORMAT_NAME = "vlad-memory"
FORMAT_VERSION = 1
LABELS = ("normal", "anomalous")
DEFAULT_K = 10
DEFAULT_ALPHA = 0.95
DEFAULT_DEDUP_THRESHOLD = 0.95
ANN_MIN_ENTRIES = 100_000
"""Memories with at least this many entries are searched with FAISS when it is installed."""
DEFAULT_RERANK_FACTOR = 2

MANIFEST_FILE = "manifest.json"
ENTRIES_FILE = "entries.jsonl"
EMBEDDINGS_FILE = "embeddings.npy"
ANN_FILE = "ann.faiss"

_BLOCK_BYTES = 64 * 2**20  # similarity block of the exact search
_EMBED_CHUNK = 256  # captions per embedder call (one progress step)

SearchMethod = Literal["auto", "exact", "ann"]


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class MemoryEntry:
    """One caption of the memory.

    Attributes:
        text: The caption, e.g. "a person riding a bicycle on the walkway".
        label: ``"normal"`` or ``"anomalous"``.
        category: Free grouping such as "vehicle" or "loitering" ("" when none).
        source: Where it came from, e.g. ``captions.jsonl:12``.
    """

    text: str
    label: str
    category: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise InputError(
                f"Memory entry label '{self.label}' is unknown; use 'normal' or 'anomalous'."
            )

    @property
    def anomalous(self) -> bool:
        """Whether the caption describes an anomaly."""
        return self.label == "anomalous"

    def to_record(self) -> dict[str, str]:
        """The JSON object stored on one line of ``entries.jsonl``."""
        return {
            "text": self.text,
            "label": self.label,
            "category": self.category,
            "source": self.source,
        }


@dataclass(frozen=True)
class Neighbor:
    """A memory entry retrieved for a query, with what it adds to the score.

    Attributes:
        index: Row of the entry in the memory.
        text: The caption.
        label: ``"normal"`` or ``"anomalous"``.
        category: The entry's category ("" when none).
        similarity: Cosine similarity between the query and the caption.
        penalised_similarity: The similarity used for ranking and weighting (times alpha
            for anomalous entries).
        weight: Share of this neighbour in the score's denominator (0 when its penalised
            similarity is not positive).
    """

    index: int
    text: str
    label: str
    category: str
    similarity: float
    penalised_similarity: float
    weight: float

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form, floats rounded to 6 digits."""
        record = asdict(self)
        for key in ("similarity", "penalised_similarity", "weight"):
            record[key] = round(float(record[key]), 6)
        return record


@dataclass(frozen=True)
class MemoryManifest:
    """What ``manifest.json`` says about a memory.

    Attributes:
        embedder: Name of the text embedder (see :class:`~vlad.encoders.text.TextEmbedder`).
        dim: Embedding size.
        count: Number of entries.
        alpha: Anomaly penalisation the memory is meant to be queried with.
        embedder_spec: The :func:`~vlad.encoders.text.load_embedder` spec it was built with,
            when known, so that queries can load the same embedder.
        created: ISO-8601 UTC time of the build.
        vlad_version: Version of vlad that built it.
        format_version: Version of the folder layout.
        dedup_threshold: Cosine similarity at or above which captions of one label were
            merged (None: no deduplication).
        removed_duplicates: Captions dropped as exact or near duplicates.
        ann: Description of the saved FAISS index, or None.
    """

    embedder: str
    dim: int
    count: int
    alpha: float = DEFAULT_ALPHA
    embedder_spec: str | None = None
    created: str = ""
    vlad_version: str = ""
    format_version: int = FORMAT_VERSION
    dedup_threshold: float | None = None
    removed_duplicates: int = 0
    ann: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``manifest.json``."""
        return {"format": FORMAT_NAME, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> MemoryManifest:
        """Check and read a parsed ``manifest.json``; ``where`` names the file in errors."""
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise InputError(
                f"{where} is not a vlad memory manifest; rebuild the memory with vlad memory build."
            )
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise InputError(f"{where} has no valid format_version; rebuild the memory.")
        if version > FORMAT_VERSION:
            raise InputError(
                f"{where} was written in memory format {version}, newer than this vlad reads "
                f"({FORMAT_VERSION}); upgrade vlad."
            )
        checks = {
            "embedder": lambda v: isinstance(v, str) and v != "",
            "dim": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "count": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "alpha": lambda v: isinstance(v, int | float) and 0 < v <= 1,
        }
        for key, valid in checks.items():
            if not valid(data.get(key)):
                raise InputError(
                    f"{where} has a missing or invalid '{key}' ({data.get(key)!r}); "
                    "rebuild the memory."
                )
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["alpha"] = float(values["alpha"])
        return cls(**values)


# ------------------------------------------------------------------ pure scoring math


def flashback_scores(similarities: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
    """Similarity-weighted share of anomalous neighbours, per query.

    Args:
        similarities: (Q, K) penalised similarities of each query's K neighbours.
        anomalous: (Q, K) booleans, True where the neighbour is anomalous.

    Returns:
        Float32 (Q,) scores in [0, 1]: sum(w * anomalous) / sum(w) with w = max(sim, 0),
        and 0 for a query whose weights are all 0.
    """
    weights = np.clip(np.asarray(similarities, dtype=np.float64), 0.0, None)
    total = weights.sum(axis=1)
    hits = (weights * np.asarray(anomalous, dtype=bool)).sum(axis=1)
    scores = np.divide(hits, total, out=np.zeros_like(total), where=total > 0)
    return scores.astype(np.float32)


def top_k(
    scores: np.ndarray, k: int, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The k largest scores of each row, ties broken by the lower id.

    Args:
        scores: (Q, N) scores (finite or -inf).
        k: How many to keep (at most N).
        ids: (Q, N) integer ids used for tie-breaking and returned in place of column
            positions; None means the column positions themselves.

    Returns:
        (values, ids), both (Q, min(k, N)), each row sorted by descending score and then
        ascending id.
    """
    n_queries, n = scores.shape
    k = min(int(k), n)
    if k <= 0:
        return np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64)
    width = min(k + 1, n)  # one more than k, to see ties across the cut
    pos = _largest(scores, width)
    vals = np.take_along_axis(scores, pos, axis=1)
    keys = pos if ids is None else np.take_along_axis(ids, pos, axis=1)
    order = np.lexsort((keys, -vals), axis=1)
    pos = np.take_along_axis(pos, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    if width > k:
        for row in np.flatnonzero(vals[:, k - 1] == vals[:, k]):
            pos[row, :k] = _tied_row(scores[row], k, None if ids is None else ids[row])
            vals[row, :k] = scores[row, pos[row, :k]]
    pos, vals = pos[:, :k], vals[:, :k]
    out_ids = pos if ids is None else np.take_along_axis(ids, pos, axis=1)
    return vals.astype(np.float32, copy=False), out_ids.astype(np.int64, copy=False)


def _largest(scores: np.ndarray, width: int) -> np.ndarray:
    """Column positions of the ``width`` largest scores of each row, in no set order."""
    n_queries, n = scores.shape
    if width >= n:
        return np.broadcast_to(np.arange(n), (n_queries, n))
    if n >= 2048:  # torch's top-k is several times faster than a full argpartition here
        import torch

        block = torch.from_numpy(np.ascontiguousarray(scores))
        return torch.topk(block, width, dim=1, sorted=False).indices.numpy()
    return np.argpartition(scores, n - width, axis=1)[:, n - width :]


def _tied_row(row: np.ndarray, k: int, ids: np.ndarray | None) -> np.ndarray:
    """Positions of the top k of one row whose k-th value is tied beyond the cut."""
    keys = np.arange(row.size) if ids is None else ids
    threshold = np.sort(row)[-k]
    above = np.flatnonzero(row > threshold)
    tied = np.flatnonzero(row == threshold)
    tied = tied[np.argsort(keys[tied], kind="stable")][: k - above.size]
    chosen = np.concatenate([above, tied])
    return chosen[np.lexsort((keys[chosen], -row[chosen]))]


def exact_search(
    embeddings: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    column_scale: np.ndarray | None = None,
    block_bytes: int = _BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner-product search, in query blocks of bounded size.

    Args:
        embeddings: (N, D) float32 rows (may be memory-mapped).
        queries: (Q, D) float32 rows.
        k: Neighbours per query (at most N).
        column_scale: Optional (N,) factors applied to each entry's score before ranking
            (alpha for anomalous entries, 1 otherwise).
        block_bytes: Size budget of one (queries x N) similarity block.

    Returns:
        (scores, indices), both (Q, min(k, N)), sorted as in :func:`top_k`.
    """
    n = embeddings.shape[0]
    rows = max(1, min(queries.shape[0], block_bytes // (4 * max(n, 1))))
    # one reused block: fresh large arrays cost a page fault per 4 KiB on every block
    buffer = np.empty((rows, n), dtype=np.float32)
    scores_out, index_out = [], []
    for start in range(0, queries.shape[0], rows):
        block = queries[start : start + rows]
        sims = buffer[: block.shape[0]]
        np.matmul(block, embeddings.T, out=sims)
        if column_scale is not None:
            sims *= column_scale
        vals, idx = top_k(sims, k)
        scores_out.append(vals)
        index_out.append(idx)
    if not scores_out:
        k = min(k, n)
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores_out), np.concatenate(index_out)


def near_duplicate_mask(
    embeddings: np.ndarray,
    groups: np.ndarray,
    threshold: float,
    *,
    block: int = 1024,
) -> np.ndarray:
    """Greedy near-duplicate removal inside each group (label), keeping the first seen.

    An entry is dropped when its cosine similarity to an entry already kept in the same
    group is at or above ``threshold``. Entries of different groups never remove each other.

    Args:
        embeddings: (N, D) unit rows.
        groups: (N,) group of each row (e.g. the anomalous flag).
        threshold: Cosine similarity that counts as a duplicate.
        block: Rows compared per matrix product.

    Returns:
        Boolean (N,) mask of the rows to keep.
    """
    keep = np.zeros(embeddings.shape[0], dtype=bool)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        kept = np.zeros((0, embeddings.shape[1]), dtype=np.float32)
        for start in range(0, members.size, block):
            rows = members[start : start + block]
            vectors = np.asarray(embeddings[rows], dtype=np.float32)
            dropped = np.zeros(rows.size, dtype=bool)
            if kept.shape[0]:
                dropped = (vectors @ kept.T).max(axis=1) >= threshold
            within = vectors @ vectors.T
            chosen: list[int] = []
            for j in np.flatnonzero(~dropped):
                if chosen and within[j, chosen].max() >= threshold:
                    continue
                chosen.append(int(j))
            keep[rows[chosen]] = True
            kept = np.concatenate([kept, vectors[chosen]])
    return keep


# ------------------------------------------------------------------------ FAISS index


def faiss_available() -> bool:
    """Whether the optional FAISS library is installed."""
    return importlib.util.find_spec("faiss") is not None


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError(
            "Approximate search of large memories needs FAISS; install it with "
            "pip install 'vlad[faiss]' (or pip install faiss-cpu)."
        ) from exc
    return faiss


def default_nprobe(nlist: int) -> int:
    """Inverted lists visited per query by default.

    Up to 256 lists (memories up to about 100k entries), 1/32 of them and at least 4: on
    10k x 512 entries (128 lists) 4 lists give recall@10 1.0 against exact search. Above,
    1/64 of them and at least 8: on 1M x 512 entries (1,024 lists) 8 lists give about
    0.95, 16 lists about 0.98 (``bench/bench_memory.py``).
    """
    if nlist <= 256:
        return max(4, nlist // 32)
    return max(8, nlist // 64)


def ann_factory(count: int, dim: int) -> str:
    """FAISS factory string used for a memory of this size: IVF lists, 4-bit PQ fast scan.

    About sqrt(count) inverted lists (a power of two), and one 4-bit sub-quantizer per 8
    dimensions (32 bytes per entry at 512 dimensions); exact re-ranking afterwards.
    """
    nlist = 2 ** max(4, round(math.log2(max(count, 16) ** 0.5)))
    for sub in (dim // 8, dim // 4, dim // 2):
        if sub >= 2 and sub % 2 == 0 and dim % sub == 0:
            return f"IVF{nlist},PQ{sub}x4fs"
    return f"IVF{nlist},Flat"


class AnnIndex:
    """A FAISS inverted-file index over the penalised embeddings of a memory.

    Anomalous rows are scaled by ``alpha`` before they are added, so that the index ranks
    by penalised similarity; the memory re-ranks its candidates exactly.

    Args:
        index: The trained and filled FAISS index.
        factory: Its factory string.
        alpha: Penalisation of anomalous rows inside the index.
        nprobe: Inverted lists visited per query (more: better recall, slower); None for
            :func:`default_nprobe`.
        rerank_factor: Candidates fetched per wanted neighbour before exact re-ranking.
    """

    def __init__(
        self,
        index: Any,
        *,
        factory: str,
        alpha: float,
        nprobe: int | None = None,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
    ) -> None:
        self.index = index
        self.factory = factory
        self.alpha = float(alpha)
        self.rerank_factor = int(rerank_factor)
        self.nprobe = nprobe or default_nprobe(self.nlist)

    @property
    def nprobe(self) -> int:
        """Inverted lists visited per query."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if value < 1:
            raise ConfigError(f"nprobe must be at least 1, got {value}.")
        self._nprobe = int(value)
        faiss = _import_faiss()
        faiss.extract_index_ivf(self.index).nprobe = self._nprobe

    @property
    def nlist(self) -> int:
        """Number of inverted lists."""
        return int(_import_faiss().extract_index_ivf(self.index).nlist)

    @property
    def count(self) -> int:
        """Vectors in the index."""
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        anomalous: np.ndarray,
        *,
        alpha: float,
        factory: str | None = None,
        nprobe: int | None = None,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
        train_size: int | None = None,
        progress: bool = True,
        seed: int = 0,
    ) -> AnnIndex:
        """Train and fill an index over ``embeddings`` (anomalous rows times alpha).

        Args:
            embeddings: (N, D) unit rows (may be memory-mapped).
            anomalous: (N,) booleans.
            alpha: Penalisation of anomalous rows.
            factory: FAISS factory string; None for :func:`ann_factory`.
            nprobe: Inverted lists visited per query; None for :func:`default_nprobe`.
            rerank_factor: Candidates per wanted neighbour for exact re-ranking.
            train_size: Rows sampled to train on; None for 50 per inverted list (at least
                50,000, at most N).
            progress: Show a progress bar while adding rows.
            seed: Seed of the training sample.

        Returns:
            The index.
        """
        from tqdm import tqdm

        faiss = _import_faiss()
        count, dim = embeddings.shape
        factory = factory or ann_factory(count, dim)
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        nlist = faiss.extract_index_ivf(index).nlist
        size = min(count, train_size or max(50 * nlist, 50_000))
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(count, size=size, replace=False))
        started = time.perf_counter()
        index.train(_scaled_rows(embeddings, anomalous, alpha, sample))
        log.info("Trained %s on %d rows in %.1f s", factory, size, time.perf_counter() - started)
        step = 65_536
        with tqdm(
            total=count, unit="entry", desc="ANN index", disable=not progress, leave=False
        ) as bar:
            for start in range(0, count, step):
                rows = np.arange(start, min(start + step, count))
                index.add(_scaled_rows(embeddings, anomalous, alpha, rows))
                bar.update(rows.size)
        return cls(index, factory=factory, alpha=alpha, nprobe=nprobe, rerank_factor=rerank_factor)

    def candidates(self, queries: np.ndarray, fetch: int) -> np.ndarray:
        """Row indices of about the ``fetch`` best entries per query (-1 where none).

        Args:
            queries: (Q, D) float32 unit rows.
            fetch: Candidates per query.

        Returns:
            Int64 (Q, fetch).
        """
        _, indices = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), fetch)
        return indices.astype(np.int64, copy=False)

    def info(self) -> dict[str, Any]:
        """What the manifest records about the index."""
        return {
            "kind": "faiss",
            "file": ANN_FILE,
            "factory": self.factory,
            "alpha": self.alpha,
            "nprobe": self.nprobe,
            "rerank_factor": self.rerank_factor,
            "by_residual": bool(
                getattr(_import_faiss().extract_index_ivf(self.index), "by_residual", True)
            ),
            "count": self.count,
        }

    def write(self, path: Path) -> None:
        """Write the FAISS index to a file."""
        _import_faiss().write_index(self.index, str(path))

    @classmethod
    def read(cls, path: Path, info: dict[str, Any]) -> AnnIndex:
        """Read an index written by :meth:`write`, with its manifest description."""
        index = _import_faiss().read_index(str(path))
        return cls(
            index,
            factory=str(info.get("factory", "")),
            alpha=float(info.get("alpha", DEFAULT_ALPHA)),
            nprobe=int(info["nprobe"]) if info.get("nprobe") else None,
            rerank_factor=int(info.get("rerank_factor", DEFAULT_RERANK_FACTOR)),
        )


def inner_products_by_ids(
    embeddings: np.ndarray, queries: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """Inner products of each query with the embedding rows its ids name.

    Args:
        embeddings: (N, D) float32 rows (may be memory-mapped).
        queries: (Q, D) float32 rows.
        ids: (Q, F) valid row indices.

    Returns:
        Float32 (Q, F): ``out[q, f] = queries[q] . embeddings[ids[q, f]]``.
    """
    out = np.empty(ids.shape, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if faiss_available() and embeddings.dtype == np.float32 and embeddings.flags.c_contiguous:
        faiss = _import_faiss()  # multi-threaded, and reads the rows in place
        faiss.fvec_inner_products_by_idx(
            faiss.swig_ptr(out),
            faiss.swig_ptr(queries),
            faiss.swig_ptr(embeddings),
            faiss.swig_ptr(ids),
            embeddings.shape[1],
            ids.shape[0],
            ids.shape[1],
        )
        return out
    step = 1024
    for start in range(0, ids.shape[0], step):
        block = ids[start : start + step]
        vectors = np.asarray(embeddings[block.ravel()], dtype=np.float32)
        vectors = vectors.reshape(*block.shape, embeddings.shape[1])
        products = np.matmul(vectors, queries[start : start + step, :, None])
        out[start : start + step] = products[..., 0]
    return out


def _scaled_rows(
    embeddings: np.ndarray, anomalous: np.ndarray, alpha: float, rows: np.ndarray
) -> np.ndarray:
    """Rows of the embeddings, anomalous ones multiplied by alpha, as contiguous float32."""
    block = np.array(embeddings[rows], dtype=np.float32)
    block[anomalous[rows]] *= np.float32(alpha)
    return block


# ------------------------------------------------------------------------ the memory


class MemoryIndex:
    """Captions with their unit embeddings, searchable and scorable the Flashback way.

    Build one with :meth:`from_entries`, :func:`build_memory` or
    :func:`build_from_captions`; read one with :meth:`load`.

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
        _check_alpha(alpha)
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
            vlad_version=_vlad_version(),
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

    def entry(self, index: int) -> MemoryEntry:
        """The entry at a row."""
        return MemoryEntry(
            self._texts[index], self._labels[index], self._categories[index], self._sources[index]
        )

    @property
    def entries(self) -> list[MemoryEntry]:
        """All entries (built on each call; use :meth:`entry` for a few)."""
        return [self.entry(i) for i in range(self.count)]

    def _where(self) -> str:
        return f"the memory in '{self.folder}'" if self.folder else "the memory"

    # -- checks ------------------------------------------------------------------------

    def check_embedder(self, embedder: TextEmbedder) -> None:
        """Make sure query embeddings from this embedder fit the memory.

        Raises:
            InputError: The embedder's name or dimension differs from the manifest's.
        """
        if embedder.name != self.embedder or int(embedder.dim) != self.dim:
            hint = (
                f"--embedder {self.manifest.embedder_spec}"
                if self.manifest.embedder_spec
                else f"the embedder '{self.embedder}'"
            )
            raise InputError(
                f"{self._where().capitalize()} was built with embedder '{self.embedder}' "
                f"(dim {self.dim}) but the query uses '{embedder.name}' (dim {embedder.dim}); "
                f"query it with {hint} or rebuild the memory with this embedder."
            )

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        rows = np.asarray(queries, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise InputError(
                f"Query embeddings of shape {np.shape(queries)} do not fit {self._where()} "
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
            raise ConfigError(f"Unknown search method '{method}'; use auto, exact or ann.")
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
            raise ConfigError(f"k must be at least 1, got {k}.")
        _check_alpha(alpha)
        rows = self._queries(queries)
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
        return self._neighbors(self._queries(rows)[0], scores[0], indices[0])

    def _neighbors(
        self, query: np.ndarray, scores: np.ndarray, indices: np.ndarray
    ) -> list[Neighbor]:
        """Neighbour records of one query (unit row) from its search results."""
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
        last, and the folder is renamed into place; a stopped save leaves only that hidden
        folder, never a target that loads as complete.

        Args:
            folder: Target folder (created; its parent too).
            overwrite: Replace an existing folder.

        Returns:
            The folder.

        Raises:
            InputError: The folder exists and ``overwrite`` is False, or it is a file.
        """
        target = ensure_new_folder(folder, overwrite=overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        )
        try:
            with open(partial / ENTRIES_FILE, "w", encoding="utf-8") as stream:
                for i in range(self.count):
                    stream.write(json.dumps(self.entry(i).to_record(), ensure_ascii=False))
                    stream.write("\n")
                _sync(stream)
            with open(partial / EMBEDDINGS_FILE, "wb") as stream:
                np.save(stream, np.asarray(self._embeddings, dtype=np.float32), allow_pickle=False)
                _sync(stream)
            manifest = replace(self.manifest, ann=None)
            if self._ann is not None:
                self._ann.write(partial / ANN_FILE)
                manifest = replace(manifest, ann=self._ann.info())
            with open(partial / MANIFEST_FILE, "w", encoding="utf-8") as stream:
                json.dump(manifest.to_dict(), stream, indent=2)
                stream.write("\n")
                _sync(stream)
            if target.exists():
                old = target.with_name(f".{target.name}.{os.getpid()}.old")
                target.rename(old)
                partial.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
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
        manifest = _read_manifest(root)
        embeddings = _read_embeddings(root, manifest, mmap=mmap)
        texts, labels, categories, sources = _read_entries(root / ENTRIES_FILE, manifest.count)
        ann = _read_ann(root, manifest)
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


def ensure_new_folder(folder: str | Path, *, overwrite: bool = False) -> Path:
    """Check that a memory can be saved to a folder, before any long work starts.

    Args:
        folder: The target folder.
        overwrite: Whether an existing memory folder may be replaced.

    Returns:
        The folder as a path.

    Raises:
        InputError: The folder exists and ``overwrite`` is False, or it is a file.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise InputError(f"'{target}' is a file, not a memory folder; choose another --out.")
    if target.exists() and not overwrite:
        raise InputError(
            f"Memory folder '{target}' already exists; choose another --out or pass --force "
            "to replace it."
        )
    return target


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha <= 1:
        raise ConfigError(f"alpha must be in (0, 1], got {alpha}.")


def _vlad_version() -> str:
    from vlad import __version__

    return __version__


def _sync(stream: Any) -> None:
    stream.flush()
    os.fsync(stream.fileno())


def _read_manifest(root: Path) -> MemoryManifest:
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise InputError(
            f"Memory folder '{root}' has no {MANIFEST_FILE}, so it is not a complete memory "
            "(a stopped build leaves none); rebuild it with vlad memory build."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"'{path}' is not valid JSON ({exc}); rebuild the memory.") from exc
    return MemoryManifest.from_dict(data, f"'{path}'")


def _read_embeddings(root: Path, manifest: MemoryManifest, *, mmap: bool) -> np.ndarray:
    path = root / EMBEDDINGS_FILE
    if not path.is_file():
        raise InputError(f"Memory folder '{root}' has no {EMBEDDINGS_FILE}; rebuild the memory.")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"'{path}' cannot be read as a NumPy array ({_first_line(exc)}); rebuild the memory."
        ) from exc
    if array.dtype != np.float32 or array.ndim != 2:
        raise InputError(
            f"'{path}' holds a {array.dtype} array of shape {array.shape}, not float32 rows; "
            "rebuild the memory."
        )
    if array.shape != (manifest.count, manifest.dim):
        raise InputError(
            f"'{path}' holds {array.shape[0]} rows of dimension {array.shape[1]} but the "
            f"manifest says {manifest.count} of dimension {manifest.dim}; rebuild the memory."
        )
    return array


def _read_entries(path: Path, count: int) -> tuple[list[str], list[str], list[str], list[str]]:
    if not path.is_file():
        raise InputError(
            f"Memory folder '{path.parent}' has no {ENTRIES_FILE}; rebuild the memory."
        )
    texts: list[str] = []
    labels: list[str] = []
    categories: list[str] = []
    sources: list[str] = []
    with open(path, encoding="utf-8") as stream:
        for lineno, line in enumerate(stream, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"Line {lineno} of '{path}' is not valid JSON ({exc.msg}); rebuild the memory."
                ) from exc
            if (
                not isinstance(record, dict)
                or not isinstance(record.get("text"), str)
                or record.get("label") not in LABELS
            ):
                raise InputError(
                    f"Line {lineno} of '{path}' is not a memory entry with a text and a "
                    "normal/anomalous label; rebuild the memory."
                )
            texts.append(record["text"])
            labels.append(record["label"])
            categories.append(str(record.get("category") or ""))
            sources.append(str(record.get("source") or ""))
    if len(texts) != count:
        raise InputError(
            f"'{path}' has {len(texts)} entries but the manifest says {count}; rebuild the memory."
        )
    return texts, labels, categories, sources


def _read_ann(root: Path, manifest: MemoryManifest) -> AnnIndex | None:
    info = manifest.ann
    if not info:
        return None
    path = root / str(info.get("file", ANN_FILE))
    if not faiss_available():
        log.warning(
            "The memory in '%s' has a FAISS index but FAISS is not installed; searching "
            "exactly (install vlad[faiss] for speed).",
            root,
        )
        return None
    try:
        ann = AnnIndex.read(path, info)
    except Exception as exc:  # FAISS raises RuntimeError with C++ messages
        log.warning(
            "Ignoring the FAISS index '%s' (%s); searching exactly.", path, _first_line(exc)
        )
        return None
    if ann.count != manifest.count:
        log.warning(
            "Ignoring the FAISS index '%s': it holds %d entries, the memory %d.",
            path,
            ann.count,
            manifest.count,
        )
        return None
    return ann


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------- building from captions


@dataclass
class _Captions:
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
    _check_alpha(alpha)
    if dedup_threshold is not None and not -1 <= dedup_threshold <= 1:
        raise ConfigError(f"The dedup threshold must be in [-1, 1], got {dedup_threshold}.")
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
    if ann or (ann is None and memory.count >= ANN_MIN_ENTRIES and faiss_available()):
        memory.build_ann(progress=progress)
    return memory


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


# ------------------------------------------------------------------- CLI-facing helpers


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
        InputError: No spec is given and the memory records none, or the embedder does not
            match the memory.
    """
    from vlad.encoders.text import load_embedder

    spec = spec or index.manifest.embedder_spec
    if not spec:
        raise InputError(
            f"{index._where().capitalize()} does not record how to load its embedder "
            f"'{index.embedder}'; pass --embedder SPEC."
        )
    embedder = load_embedder(spec, device=device)
    index.check_embedder(embedder)
    return embedder


def summarize(index: MemoryIndex, *, examples: int = 3) -> dict[str, Any]:
    """What ``vlad memory show`` prints: counts, embedder, settings and a few examples.

    Args:
        index: The memory.
        examples: Example captions per label.

    Returns:
        A JSON-ready dict.
    """
    label_counts = Counter(index._labels)
    by_category: dict[str, dict[str, int]] = {}
    for category, label in zip(index._categories, index._labels, strict=True):
        counts = by_category.setdefault(category or "(none)", {"normal": 0, "anomalous": 0})
        counts[label] += 1
    picks: dict[str, list[str]] = {label: [] for label in LABELS}
    for text, label in zip(index._texts, index._labels, strict=True):
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
        InputError: The embedder does not match the memory, or a text is empty.
    """
    items = [texts] if isinstance(texts, str) else list(texts)
    for text in items:
        if not text.strip():
            raise InputError("The query text is empty; pass a sentence with --text.")
    index.check_embedder(embedder)
    alpha = index.alpha if alpha is None else alpha
    rows = index._queries(embedder.embed(items))
    scores, indices = index.search(rows, k, alpha=alpha)
    values = flashback_scores(scores, index.anomalous[indices])
    return [
        {
            "text": text,
            "score": round(float(value), 6),
            "k": int(indices.shape[1]),
            "alpha": alpha,
            "neighbors": [n.to_record() for n in index._neighbors(row, s, i)],
        }
        for text, value, row, s, i in zip(items, values, rows, scores, indices, strict=True)
    ]


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarize`'s dict, for ``vlad memory show``."""
    labels = summary["labels"]
    lines = [
        f"memory: {summary['folder'] or '(not saved)'}",
        f"entries: {summary['count']} ({labels['normal']} normal, {labels['anomalous']} "
        f"anomalous; {summary['removed_duplicates']} duplicates removed)",
        f"embedder: {summary['embedder']} (dim {summary['dim']})"
        + (f", spec {summary['embedder_spec']}" if summary["embedder_spec"] else ""),
        f"alpha: {summary['alpha']}",
        f"search: {'FAISS ' + summary['ann']['factory'] if summary['ann'] else 'exact'}",
        f"created: {summary['created']} by vlad {summary['vlad_version']}",
        "categories:",
    ]
    for category, counts in summary["categories"].items():
        lines.append(f"  {category}: {counts['normal']} normal, {counts['anomalous']} anomalous")
    for label, texts in summary["examples"].items():
        lines.append(f"{label} examples:")
        lines.extend(f"  - {text}" for text in texts)
    return "\n".join(lines)


def format_query(result: dict[str, Any]) -> str:
    """Human-readable text of one :func:`query` result, for ``vlad memory query``."""
    lines = [
        f"score {result['score']:.3f}  (k={result['k']}, alpha={result['alpha']})  {result['text']}"
    ]
    for rank, n in enumerate(result["neighbors"], 1):
        lines.append(
            f"  {rank:2d}. {n['label']:<9} sim {n['similarity']:.3f}  weight {n['weight']:.2f}  "
            f"{n['text']}"
        )
    return "\n".join(lines)
