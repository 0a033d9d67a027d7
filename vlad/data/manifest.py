"""The manifest: one record per benchmark input, the same schema for every benchmark.

A manifest is a JSON Lines file, one :class:`ManifestRecord` per line::

    {"id": "bottle/test/broken_large/000", "path": "/data/mvtec/bottle/test/...png",
     "kind": "image", "fps": null, "split": "test", "category": "bottle", "label": 1,
     "mask": "/data/mvtec/bottle/ground_truth/broken_large/000_mask.png", "frames": null,
     "intervals": [], "source": "mvtec"}

Frame labels are stored as anomalous intervals: half-open ``[start, stop)`` pairs of 0-based
frame indices, sorted and disjoint; with ``frames`` (the frame count, when the benchmark
gives it) they expand to one 0/1 label per frame (:meth:`ManifestRecord.frame_labels`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vlad.errors import InputError
from vlad.utils.io import atomic_open

Kind = Literal["image", "video", "frames"]
KINDS: tuple[str, ...] = ("image", "video", "frames")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
FIELDS: tuple[str, ...] = (
    "id",
    "path",
    "kind",
    "fps",
    "split",
    "category",
    "label",
    "mask",
    "frames",
    "intervals",
    "source",
)


@dataclass(frozen=True)
class ManifestRecord:
    """One input of a benchmark.

    Attributes:
        id: Unique within the manifest (``bottle/test/crack/000``, ``ped2/test/01``).
        path: The image file, video file or frame folder.
        kind: ``image``, ``video`` or ``frames`` (a folder of frame images in name order).
        fps: Frames per second of a video or frame folder, None for images or when unknown.
        split: ``train``, ``validation`` or ``test``.
        category: The object class (MVTec AD, VisA), scene or event class; "" when none.
        label: 1 anomalous, 0 normal, None when the benchmark does not say.
        mask: The pixel ground-truth image of an anomalous image, or None.
        frames: Number of frames of a video or frame folder, None for images or unknown.
        intervals: Anomalous frames as half-open 0-based ``(start, stop)`` pairs.
        source: The benchmark's registry name (``mvtec``, ``ped2`` ...).
    """

    id: str
    path: str
    kind: Kind
    split: str
    source: str
    category: str = ""
    fps: float | None = None
    label: int | None = None
    mask: str | None = None
    frames: int | None = None
    intervals: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        check_record(self)

    def frame_labels(self) -> np.ndarray:
        """One 0/1 label per frame (int8), from ``frames`` and ``intervals``.

        Raises:
            InputError: The record has no frame count.
        """
        if self.frames is None:
            raise InputError(f"The record {self.id} has no frame count, so no frame labels.")
        labels = np.zeros(self.frames, dtype=np.int8)
        for start, stop in self.intervals:
            labels[start:stop] = 1
        return labels

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready mapping, keys in :data:`FIELDS` order."""
        values = {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "fps": self.fps,
            "split": self.split,
            "category": self.category,
            "label": self.label,
            "mask": self.mask,
            "frames": self.frames,
            "intervals": [list(pair) for pair in self.intervals],
            "source": self.source,
        }
        return values

    @classmethod
    def from_json(cls, data: Any, *, where: str = "manifest") -> ManifestRecord:
        """Read a record from a decoded JSON line.

        Args:
            data: The decoded line.
            where: Where the line came from, for messages (``file.jsonl line 3``).

        Raises:
            InputError: The line is not an object, lacks or adds a field, or a value is
                of the wrong kind.
        """
        if not isinstance(data, dict):
            raise InputError(f"{where} is not a JSON object; each line holds one record.")
        missing = [name for name in FIELDS if name not in data]
        if missing:
            raise InputError(f"{where} lacks the field(s) {', '.join(missing)}.")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise InputError(
                f"{where} has unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}."
            )
        intervals = data["intervals"]
        if not isinstance(intervals, list) or not all(
            isinstance(pair, list) and len(pair) == 2 for pair in intervals
        ):
            raise InputError(f"{where}: intervals must be a list of [start, stop] pairs.")
        try:
            return cls(
                id=data["id"],
                path=data["path"],
                kind=data["kind"],
                fps=data["fps"],
                split=data["split"],
                category=data["category"],
                label=data["label"],
                mask=data["mask"],
                frames=data["frames"],
                intervals=tuple((pair[0], pair[1]) for pair in intervals),
                source=data["source"],
            )
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_record(record: ManifestRecord) -> None:
    """Check a record's values against the schema.

    Raises:
        InputError: One sentence naming the record and the value that is wrong.
    """
    name = record.id if isinstance(record.id, str) and record.id else "a record"
    for text_field in ("id", "path", "source"):
        value = getattr(record, text_field)
        if not isinstance(value, str) or not value:
            raise InputError(f"The {text_field} of {name} must be a non-empty string.")
    if not isinstance(record.category, str):
        raise InputError(f"The category of {name} must be a string.")
    if record.kind not in KINDS:
        raise InputError(f"The kind of {name} is {record.kind!r}; use one of {', '.join(KINDS)}.")
    if record.split not in SPLITS:
        raise InputError(
            f"The split of {name} is {record.split!r}; use one of {', '.join(SPLITS)}."
        )
    if record.label is not None and (not _is_int(record.label) or record.label not in (0, 1)):
        raise InputError(f"The label of {name} is {record.label!r}; use 0, 1 or null.")
    if record.fps is not None and (
        isinstance(record.fps, bool)
        or not isinstance(record.fps, int | float)
        or not record.fps > 0
    ):
        raise InputError(f"The fps of {name} is {record.fps!r}; use a number > 0 or null.")
    if record.mask is not None and (not isinstance(record.mask, str) or not record.mask):
        raise InputError(f"The mask of {name} must be a path or null.")
    if record.frames is not None and (not _is_int(record.frames) or record.frames < 1):
        raise InputError(f"The frame count of {name} is {record.frames!r}; use an integer >= 1.")
    previous = 0
    for pair in record.intervals:
        start, stop = pair
        if not (_is_int(start) and _is_int(stop)) or start < previous or stop <= start:
            raise InputError(
                f"The intervals of {name} must be sorted, disjoint [start, stop) frame pairs "
                f"with start < stop, got {[list(p) for p in record.intervals]}."
            )
        if record.frames is not None and stop > record.frames:
            raise InputError(
                f"The interval {list(pair)} of {name} ends after its {record.frames} frames."
            )
        previous = stop
    if record.intervals and record.label == 0:
        raise InputError(f"{name} is labelled normal but has anomalous intervals.")


def intervals_from_labels(labels: Sequence[int] | np.ndarray) -> tuple[tuple[int, int], ...]:
    """The anomalous runs of 0/1 frame labels as half-open ``(start, stop)`` pairs.

    >>> intervals_from_labels([0, 1, 1, 0, 1])
    ((1, 3), (4, 5))
    """
    flags = np.asarray(labels).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return tuple((int(a), int(b)) for a, b in zip(starts, stops, strict=True))


def merge_intervals(pairs: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort half-open intervals and merge those that overlap or touch.

    >>> merge_intervals([(5, 8), (0, 2), (2, 3), (7, 9)])
    ((0, 3), (5, 9))
    """
    merged: list[list[int]] = []
    for start, stop in sorted(pairs):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return tuple((a, b) for a, b in merged)


def write_manifest(path: str | Path, records: Sequence[ManifestRecord]) -> Path:
    """Write records as JSON Lines, atomically (a stop leaves the old file or none).

    Args:
        path: The manifest file to write.
        records: The records, written in this order.

    Returns:
        The path written.

    Raises:
        InputError: Two records share an id.
    """
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise InputError(f"Two records have the id {record.id}; ids must be unique.")
        seen.add(record.id)
    target = Path(path).expanduser()
    with atomic_open(target, "w") as stream:
        for record in records:
            stream.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    return target


def read_manifest(path: str | Path) -> list[ManifestRecord]:
    """Read and check a manifest written by :func:`write_manifest` (or by hand).

    Args:
        path: The JSON Lines file; blank lines are skipped.

    Returns:
        The records in file order.

    Raises:
        InputError: The file is missing or not UTF-8, a line is not JSON or breaks the
            schema, or two records share an id.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise InputError(f"There is no manifest file {source}.", param="manifest")
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"The manifest {source} is not UTF-8 text.") from exc
    records: list[ManifestRecord] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON ({exc.msg}).") from exc
        record = ManifestRecord.from_json(data, where=where)
        if record.id in seen:
            raise InputError(f"{where} repeats the id {record.id}; ids must be unique.")
        seen.add(record.id)
        records.append(record)
    return records


@dataclass(frozen=True)
class ManifestSummary:
    """Counts of a manifest, for the summary ``vlad data prepare`` prints.

    Attributes:
        records: Number of records.
        by_split: split -> count.
        by_category: category -> count ("" for none).
        anomalous: Records labelled 1, or with anomalous intervals.
        labelled: Records with a label or intervals (the denominator of the share).
        frames: Total frames of records with a frame count.
        anomalous_frames: Frames inside anomalous intervals.
    """

    records: int
    by_split: dict[str, int]
    by_category: dict[str, int]
    anomalous: int
    labelled: int
    frames: int
    anomalous_frames: int

    @property
    def anomalous_share(self) -> float | None:
        """Anomalous records / labelled records, None when nothing is labelled."""
        return self.anomalous / self.labelled if self.labelled else None


def summarize(records: Sequence[ManifestRecord]) -> ManifestSummary:
    """Count a manifest's records per split and category, and its anomalous share."""

    def is_labelled(record: ManifestRecord) -> bool:
        return record.label is not None or bool(record.intervals)

    def is_anomalous(record: ManifestRecord) -> bool:
        return record.label == 1 or bool(record.intervals)

    return ManifestSummary(
        records=len(records),
        by_split=dict(sorted(Counter(r.split for r in records).items())),
        by_category=dict(sorted(Counter(r.category for r in records).items())),
        anomalous=sum(1 for r in records if is_anomalous(r)),
        labelled=sum(1 for r in records if is_labelled(r)),
        frames=sum(r.frames or 0 for r in records),
        anomalous_frames=sum(b - a for r in records for a, b in r.intervals),
    )
