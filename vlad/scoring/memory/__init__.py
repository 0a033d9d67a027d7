"""Retrieval memory of normal and anomalous captions, scored the Flashback way.

Flashback (zero-shot real-time video anomaly detection) works in two stages:

* **Recall** (offline): an LLM writes a pseudo-scene memory of short captions, each
  labelled normal or anomalous; here they come from a JSON-lines file
  (:func:`build_from_captions`), are embedded by a :class:`~vlad.encoders.text.TextEmbedder`,
  near-duplicates are dropped, and the result is a :class:`MemoryIndex` saved to a folder.
* **Respond** (online): each segment embedding retrieves its K nearest captions and its
  anomaly score is the similarity-weighted share of anomalous neighbours
  (:meth:`MemoryIndex.respond`).

One concept per module:

* ``records``: :class:`MemoryEntry`, :class:`Neighbor`, :class:`MemoryManifest`, defaults;
* ``math``: the pure scoring maths (the exact formula is in its docstring);
* ``ann``: the FAISS index used for large memories (extra ``faiss``, imported lazily);
* ``index``: :class:`MemoryIndex` (search, scores, explanations);
* ``storage``: the folder format, written atomically and read back with checks;
* ``build``: building a memory from a caption file and a text embedder;
* ``lookup``: what the ``vlad memory`` commands ask of a memory (summary, scored queries).

Importing this package loads NumPy only: FAISS and torch are imported when used.
"""

from vlad.scoring.memory.ann import (
    AnnIndex,
    ann_factory,
    default_nprobe,
    faiss_available,
    inner_products_by_ids,
)
from vlad.scoring.memory.build import (
    build_from_captions,
    build_memory,
    embed_texts,
    read_captions,
)
from vlad.scoring.memory.index import MemoryIndex
from vlad.scoring.memory.lookup import load_query_embedder, query, summarize
from vlad.scoring.memory.math import (
    exact_search,
    flashback_scores,
    near_duplicate_mask,
    top_k,
)
from vlad.scoring.memory.records import (
    ANN_FILE,
    ANN_MIN_ENTRIES,
    DEFAULT_ALPHA,
    DEFAULT_DEDUP_THRESHOLD,
    DEFAULT_K,
    DEFAULT_RERANK_FACTOR,
    EMBEDDINGS_FILE,
    ENTRIES_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    LABELS,
    MANIFEST_FILE,
    MemoryEntry,
    MemoryManifest,
    Neighbor,
    SearchMethod,
)
from vlad.scoring.memory.storage import ensure_new_folder

__all__ = [
    "ANN_FILE",
    "ANN_MIN_ENTRIES",
    "DEFAULT_ALPHA",
    "DEFAULT_DEDUP_THRESHOLD",
    "DEFAULT_K",
    "DEFAULT_RERANK_FACTOR",
    "EMBEDDINGS_FILE",
    "ENTRIES_FILE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LABELS",
    "MANIFEST_FILE",
    "AnnIndex",
    "MemoryEntry",
    "MemoryIndex",
    "MemoryManifest",
    "Neighbor",
    "SearchMethod",
    "ann_factory",
    "build_from_captions",
    "build_memory",
    "default_nprobe",
    "embed_texts",
    "ensure_new_folder",
    "exact_search",
    "faiss_available",
    "flashback_scores",
    "inner_products_by_ids",
    "load_query_embedder",
    "near_duplicate_mask",
    "query",
    "read_captions",
    "summarize",
    "top_k",
]
