"""The output folder of a batch run: one result file per input, written atomically.

Layout of ``DIR`` (every engine writes the same one)::

    .vlad-batch            marker: this folder is a vlad batch folder
    results/<id>.json      one record per input (the commit point of that input)
    results/<id>/          its keyframe and overlay PNGs
    index.jsonl            one line per finished input (rebuilt from results/ when behind)
    errors.jsonl           one line per failed input
    run.yaml               settings, versions, start and end

A result file appears only by rename (temporary file + ``os.replace``), so a process
killed at any moment leaves either the whole record or none; its artifact folder is
written first and trusted only once the record names it. ``index.jsonl`` and
``errors.jsonl`` are appended as results come (one ``write`` per line) and rebuilt from
``results/`` whenever they disagree with it, so a line lost or half-written by a kill never
counts. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from vlad.errors import ConfigError
from vlad.utils.io import PARTIAL_SUFFIX, TEMP_SUFFIX, atomic_write_text

__all__ = [
    "INDEX_FIELDS",
    "MARKER",
    "ResultStore",
    "StoredState",
    "check_out_dir",
    "index_line",
    "settings_hash",
]

MARKER = ".vlad-batch"
"""The file that makes a folder a vlad batch folder (a rerun may write into it)."""

RESULTS = "results"
INDEX = "index.jsonl"
ERRORS = "errors.jsonl"

INDEX_FIELDS = ("id", "input", "verdict", "score", "intervals", "text", "status", "seconds")
"""The fields of one ``index.jsonl`` line."""

#: What :meth:`ResultStore.state` says about an input's stored result.
StoredState = Literal["done", "failed", "changed", "missing"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
# What vlad writes at the top of a batch folder (anything else makes it "not ours").
_OWNED_TOP = {MARKER, RESULTS, INDEX, ERRORS, "run.yaml", "report.html", "report.md"}


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short, stable hash of the settings that decide an input's result.

    Args:
        settings: JSON-ready settings (keys in any order; tuples as lists).

    Returns:
        16 hexadecimal characters; equal settings give equal hashes across runs.

    Example:
        >>> settings_hash({"fps": 2.0, "define": ["fire"]}) == settings_hash(
        ...     {"define": ["fire"], "fps": 2.0})
        True
    """
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def index_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``index.jsonl`` line of a result record (``id, input, verdict, score, ...``).

    Args:
        record: A result record (``results/<id>.json``).

    Returns:
        Its summary: id, input, verdict (``failed`` for a failure), score, intervals
        (``[start_s, end_s]`` pairs), text (the error for a failure), status, seconds.
    """
    failed = record.get("status") != "ok"
    intervals = [
        [item.get("start_s"), item.get("end_s")]
        for item in record.get("intervals", ())
        if isinstance(item, Mapping)
    ]
    return {
        "id": record.get("id"),
        "input": record.get("input"),
        "verdict": "failed" if failed else record.get("verdict"),
        "score": None if failed else record.get("score"),
        "intervals": intervals,
        "text": record.get("error") if failed else record.get("text", ""),
        "status": record.get("status", "failed"),
        "seconds": record.get("seconds"),
    }


def check_out_dir(out_dir: str | os.PathLike[str], *, param: str = "out") -> None:
    """Refuse, before any work, a folder a batch run must not write into.

    Args:
        out_dir: The batch output folder.
        param: The parameter that named it (for the message).

    Raises:
        ConfigError: One sentence when ``out_dir`` is a file, cannot be written, or is a
            non-empty folder that is not a vlad batch folder (no ``.vlad-batch`` marker).
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"out '{path}' is a file, not a folder; choose another folder.", param=param
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(
            f"out '{path}' cannot be written: '{existing}' is a file; choose another folder.",
            param=param,
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"out '{path}' cannot be written: folder '{existing}' is not writable; "
            "choose another folder.",
            param=param,
        )
    if path.is_dir() and not (path / MARKER).is_file() and any(path.iterdir()):
        raise ConfigError(
            f"out '{path}' is a folder that holds other files and is not a vlad batch "
            "folder; choose an empty or new folder.",
            param=param,
        )


class ResultStore:
    """One result file per input under ``DIR/results``, resumable across runs and engines.

    Several processes may write into one store (the Ray workers): each input's record is
    its own file, and an index line is one ``O_APPEND`` write.

    Args:
        out_dir: The batch folder (created, with its marker, by :meth:`open`).

    Example:
        >>> import tempfile
        >>> store = ResultStore(Path(tempfile.mkdtemp()) / "run").open()
        >>> store.write({"id": "a", "input": "a.png", "status": "ok", "verdict": "normal",
        ...              "score": 0.1, "settings_hash": "h", "seconds": 0.5})
        PosixPath(...)
        >>> store.has("a", "h"), store.has("a", "other")
        (True, False)
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.root = Path(out_dir)
        self.results_dir = self.root / RESULTS
        self.index_path = self.root / INDEX
        self.errors_path = self.root / ERRORS

    # ------------------------------------------------------------------ set-up

    def open(self) -> ResultStore:
        """Check the folder, create it with its marker, and clear what a killed run left.

        Leftovers are only vlad's own temporary files (``.NAME.RANDOM.tmp`` and
        ``.NAME.RANDOM.partial``) under ``results/``; nothing else is removed.

        Returns:
            The store itself.

        Raises:
            ConfigError: The folder cannot be used (see :func:`check_out_dir`).
        """
        check_out_dir(self.root)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER
        if not marker.is_file():
            atomic_write_text(marker, json.dumps({"vlad": "batch", "layout": 1}) + "\n")
        for leftover in self.results_dir.glob(".*"):
            if leftover.name.endswith(TEMP_SUFFIX) and leftover.is_file():
                leftover.unlink(missing_ok=True)
            elif leftover.name.endswith(PARTIAL_SUFFIX) and leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
        return self

    # ------------------------------------------------------------------ reading

    def path_of(self, input_id: str) -> Path:
        """The result file of an input id (``results/<id>.json``)."""
        return self.results_dir / f"{_checked_id(input_id)}.json"

    def artifact_dir(self, input_id: str) -> Path:
        """The folder of an input's PNGs (``results/<id>/``)."""
        return self.results_dir / _checked_id(input_id)

    def load(self, input_id: str) -> dict[str, Any] | None:
        """An input's stored record, or None when it is missing or not a valid record."""
        return _read_record(self.path_of(input_id), input_id)

    def state(self, input_id: str, settings_hash: str) -> StoredState:
        """What is stored for an input under these settings.

        Returns:
            ``done`` (a result with these settings), ``failed`` (a failure with these
            settings), ``changed`` (a record made with other settings) or ``missing``.
        """
        record = self.load(input_id)
        if record is None:
            return "missing"
        if record.get("settings_hash") != settings_hash:
            return "changed"
        return "done" if record.get("status") == "ok" else "failed"

    def has(self, input_id: str, settings_hash: str) -> bool:
        """Whether an input has a valid record (result or failure) made with these settings."""
        return self.state(input_id, settings_hash) in ("done", "failed")

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every valid record under ``results/``, by id (half-written or foreign files skipped)."""
        if not self.results_dir.is_dir():
            return
        for path in sorted(self.results_dir.glob("*.json")):
            record = _read_record(path, path.stem)
            if record is not None:
                yield record

    def records(self) -> list[dict[str, Any]]:
        """Every valid record under ``results/``, sorted by id."""
        return list(self.iter_records())

    # ------------------------------------------------------------------ writing

    def write(self, record: Mapping[str, Any]) -> Path:
        """Store one input's record atomically and append its index (and error) line.

        Args:
            record: The result record; must hold ``id`` (a safe file name) and ``status``.

        Returns:
            The result file's path.

        Raises:
            ValueError: The record has no usable ``id``.
        """
        input_id = _checked_id(str(record.get("id", "")))
        text = json.dumps(
            _finite(dict(record)), ensure_ascii=False, allow_nan=False, default=_json_default
        )
        path = atomic_write_text(self.path_of(input_id), text + "\n")
        line = index_line(record)
        _append_line(self.index_path, line)
        if line["status"] != "ok":
            _append_line(
                self.errors_path,
                {"id": input_id, "input": record.get("input"), "error": record.get("error")},
            )
        return path

    def index_is_current(self) -> bool:
        """Whether ``index.jsonl`` holds exactly one valid line per stored record, matching it."""
        wanted = {r["id"]: index_line(r) for r in self.iter_records()}
        found: dict[str, dict[str, Any]] = {}
        try:
            lines = self.index_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return not wanted and not self.index_path.exists()
        for text in lines:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                return False
            if not isinstance(line, dict) or line.get("id") in found:
                return False
            found[str(line.get("id"))] = line
        return found == wanted

    def rebuild_index(self) -> bool:
        """Rewrite ``index.jsonl`` and ``errors.jsonl`` from ``results/`` when they are behind.

        Returns:
            True when the files were rewritten, False when they were already current.
        """
        if self.index_is_current() and self.errors_path.exists() == self._has_failures():
            return False
        records = self.records()
        atomic_write_text(
            self.index_path, "".join(json.dumps(index_line(r)) + "\n" for r in records)
        )
        errors = [
            {"id": r.get("id"), "input": r.get("input"), "error": r.get("error")}
            for r in records
            if r.get("status") != "ok"
        ]
        if errors or self.errors_path.exists():
            atomic_write_text(self.errors_path, "".join(json.dumps(e) + "\n" for e in errors))
        return True

    def _has_failures(self) -> bool:
        return any(r.get("status") != "ok" for r in self.iter_records())

    def summary(self) -> dict[str, int]:
        """How many records are stored: ``{"ok": N, "failed": M}``."""
        counts = {"ok": 0, "failed": 0}
        for record in self.iter_records():
            counts["ok" if record.get("status") == "ok" else "failed"] += 1
        return counts


def _checked_id(input_id: str) -> str:
    if not _ID.match(input_id):
        raise ValueError(
            f"Result id {input_id!r} is not a safe file name (letters, digits, '.', '_', '-')."
        )
    return input_id


def _read_record(path: Path, input_id: str) -> dict[str, Any] | None:
    """A result file's record, or None when it is unreadable, not JSON, or not this id's."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("id") != input_id:
        return None
    if record.get("status") not in ("ok", "failed"):
        return None
    return record


def _append_line(path: Path, line: Mapping[str, Any]) -> None:
    """Append one JSON line with a single write (whole lines from concurrent writers)."""
    data = (json.dumps(dict(line), ensure_ascii=False, default=_json_default) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, data)
    finally:
        os.close(descriptor)


def _finite(value: Any) -> Any:
    """The value with NaN and infinite floats as None (valid JSON, as readers expect)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        return value.item()  # numpy scalars
    with contextlib.suppress(AttributeError, TypeError):
        return value.tolist()
    return str(value)
