"""The records of a retrieval memory: its entries, a retrieved neighbour, its manifest.

Also the constants of the memory's defaults and of its folder format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeAlias

from vlad.errors import InputError

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
    "MemoryEntry",
    "MemoryManifest",
    "Neighbor",
    "SearchMethod",
]

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

SearchMethod: TypeAlias = Literal["auto", "exact", "ann"]
"""How :meth:`~vlad.scoring.memory.MemoryIndex.search` finds neighbours."""


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
