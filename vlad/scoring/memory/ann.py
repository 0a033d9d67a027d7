"""Approximate search of large memories: a FAISS IVF-PQ index over the penalised embeddings.

Search is exact below :data:`~vlad.scoring.memory.records.ANN_MIN_ENTRIES` entries, and
above it uses a FAISS IVF-PQ fast-scan index (extra ``faiss``) over the penalised
embeddings: it proposes 2k candidates per query, which are re-ranked with exact penalised
similarities (so scores are exact; only a missed neighbour changes them). Queried with
another alpha than the index was built for, it proposes 4k. On 1M x 512 entries
(``bench/bench_memory.py``) the default of 16 of 1,024 lists finds about 98 % of the exact
top 10. Without FAISS a large memory is searched exactly (slowly). A smaller memory gets an
index only on request (:meth:`~vlad.scoring.memory.MemoryIndex.build_ann`; saved with it and
used from then on): on the bench's 10k x 512 entries the default (128 lists, 4 probed)
answers about 20 times faster than exact search with the same top 10, but 4-bit PQ
candidates miss neighbours where many captions are about equally close (recall@10 0.13 on
dense clusters, where ``factory="IVF128,SQ8"`` keeps 0.98 at a third of the speed; see
``bench/README.md``), which exact search never does.

FAISS is imported only when an index is built, read or used.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from vlad.errors import ConfigError, MissingDependencyError
from vlad.scoring.memory.records import ANN_FILE, DEFAULT_ALPHA, DEFAULT_RERANK_FACTOR

__all__ = [
    "AnnIndex",
    "ann_factory",
    "default_nprobe",
    "faiss_available",
    "import_faiss",
    "inner_products_by_ids",
]

log = logging.getLogger(__name__)


def faiss_available() -> bool:
    """Whether the optional FAISS library is installed."""
    return importlib.util.find_spec("faiss") is not None


def import_faiss() -> Any:
    """Import FAISS, or say which extra installs it.

    Raises:
        MissingDependencyError: FAISS is not installed.
    """
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
            raise ConfigError(f"nprobe must be at least 1, got {value}.", param="nprobe")
        self._nprobe = int(value)
        faiss = import_faiss()
        faiss.extract_index_ivf(self.index).nprobe = self._nprobe

    @property
    def nlist(self) -> int:
        """Number of inverted lists."""
        return int(import_faiss().extract_index_ivf(self.index).nlist)

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

        faiss = import_faiss()
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
                getattr(import_faiss().extract_index_ivf(self.index), "by_residual", True)
            ),
            "count": self.count,
        }

    def write(self, path: Path) -> None:
        """Write the FAISS index to a file."""
        import_faiss().write_index(self.index, str(path))

    @classmethod
    def read(cls, path: Path, info: dict[str, Any]) -> AnnIndex:
        """Read an index written by :meth:`write`, with its manifest description."""
        index = import_faiss().read_index(str(path))
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
        faiss = import_faiss()  # multi-threaded, and reads the rows in place
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
