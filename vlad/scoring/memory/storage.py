"""A memory on disk: its folder format, written atomically and read back with checks.

A memory folder holds ``manifest.json`` (written last), ``entries.jsonl``,
``embeddings.npy`` (float32, loaded memory-mapped) and optionally ``ann.faiss``. It is
written to a hidden temporary folder first and renamed into place, so a stopped build never
leaves a folder that loads as complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from vlad.errors import InputError
from vlad.scoring.memory.ann import AnnIndex, faiss_available
from vlad.scoring.memory.records import (
    ANN_FILE,
    EMBEDDINGS_FILE,
    ENTRIES_FILE,
    LABELS,
    MANIFEST_FILE,
    MemoryEntry,
    MemoryManifest,
)
from vlad.utils.io import atomic_folder, foreign_entries, sync
from vlad.utils.messages import first_line
from vlad.utils.runinfo import RUN_FILE, is_run_record

__all__ = [
    "ensure_new_folder",
    "owned_names",
    "read_ann",
    "read_embeddings",
    "read_entries",
    "read_manifest",
    "vlad_version",
    "write_folder",
]

log = logging.getLogger(__name__)


def ensure_new_folder(folder: str | Path, *, overwrite: bool = False) -> Path:
    """Check that a memory can be saved to a folder, before any long work starts.

    Args:
        folder: The target folder.
        overwrite: Whether an existing memory folder may be replaced.

    Returns:
        The folder as a path.

    An existing folder is replaced (with ``overwrite``) only when it is empty or a memory
    holding nothing but the files vlad writes there (:func:`owned_names`): nothing vlad did
    not write is ever deleted.

    Raises:
        InputError: The folder is a file, a non-empty folder that is not a memory, or a
            memory holding other files (``param="folder"``); or it exists and
            ``overwrite`` is False (``param="overwrite"``).
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise InputError(
            f"'{target}' is a file, not a directory; choose another folder.", param="folder"
        )
    if target.exists() and not overwrite:
        raise InputError(
            f"Memory directory '{target}' already exists; choose another directory, or set "
            "overwrite to replace it.",
            param="overwrite",
        )
    if target.is_dir() and any(target.iterdir()):
        if not (target / MANIFEST_FILE).is_file():
            raise InputError(
                f"Folder '{target}' is not a vlad memory (it has no {MANIFEST_FILE}), so it is "
                "not replaced; choose another folder.",
                param="folder",
            )
        _refuse_foreign(target, foreign_entries(target, owned_names(target)))
    return target


def owned_names(folder: Path) -> frozenset[str]:
    """The files in a memory folder that vlad wrote, so a rebuild may replace them.

    The memory's own files, and ``run.yaml`` when it is a run record vlad wrote (a user's
    file of that name is not).

    Args:
        folder: A memory folder.

    Returns:
        The file names.
    """
    record = folder / RUN_FILE
    extra = {RUN_FILE} if record.is_file() and is_run_record(record) else set()
    return frozenset({MANIFEST_FILE, ENTRIES_FILE, EMBEDDINGS_FILE, ANN_FILE, *extra})


def _refuse_foreign(target: Path, foreign: list[str]) -> None:
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        shown = ", ".join(foreign[:3]) + more
        raise InputError(
            f"Folder '{target}' holds files vlad did not write ({shown}), so it is not "
            "replaced; choose another folder, or move them out.",
            param="folder",
        )


def write_folder(
    folder: Path,
    entries: Iterable[MemoryEntry],
    embeddings: np.ndarray,
    manifest: MemoryManifest,
    *,
    ann: AnnIndex | None = None,
    overwrite: bool = False,
) -> MemoryManifest:
    """Write a memory folder atomically: a stopped write never leaves one that loads.

    The files go to a hidden temporary folder beside the target, ``manifest.json`` last,
    and the folder is renamed into place (:func:`vlad.utils.io.atomic_folder`).

    Args:
        folder: The target folder (checked with :func:`ensure_new_folder`).
        entries: The entries, in row order.
        embeddings: (N, D) float32 unit rows.
        manifest: The manifest (its ``ann`` is replaced by the index's description).
        ann: A FAISS index to save with it.
        overwrite: Replace an existing folder.

    Returns:
        The manifest as written.

    Raises:
        InputError: The folder exists and ``overwrite`` is False, it is a file, or it
            holds files vlad did not write (see :func:`ensure_new_folder`).
    """
    target = ensure_new_folder(folder, overwrite=overwrite)
    owned = owned_names(target) if target.is_dir() else None
    try:
        return _write_into(target, entries, embeddings, manifest, ann, overwrite, owned)
    except FileExistsError:  # a file appeared in the folder while the memory was built
        if owned is None or not target.is_dir():
            raise
        _refuse_foreign(target, foreign_entries(target, owned))
        raise


def _write_into(
    target: Path,
    entries: Iterable[MemoryEntry],
    embeddings: np.ndarray,
    manifest: MemoryManifest,
    ann: AnnIndex | None,
    overwrite: bool,
    owned: frozenset[str] | None,
) -> MemoryManifest:
    with atomic_folder(target, overwrite=overwrite, owned=owned) as partial:
        with open(partial / ENTRIES_FILE, "w", encoding="utf-8") as stream:
            for entry in entries:
                stream.write(json.dumps(entry.to_record(), ensure_ascii=False))
                stream.write("\n")
            sync(stream)
        with open(partial / EMBEDDINGS_FILE, "wb") as stream:
            np.save(stream, np.asarray(embeddings, dtype=np.float32), allow_pickle=False)
            sync(stream)
        manifest = replace(manifest, ann=None)
        if ann is not None:
            ann.write(partial / ANN_FILE)
            manifest = replace(manifest, ann=ann.info())
        with open(partial / MANIFEST_FILE, "w", encoding="utf-8") as stream:
            json.dump(manifest.to_dict(), stream, indent=2)
            stream.write("\n")
            sync(stream)
    return manifest


def vlad_version() -> str:
    """The version of vlad, recorded in the manifests it writes."""
    from vlad import __version__

    return __version__


def read_manifest(root: Path) -> MemoryManifest:
    """Read and check ``manifest.json`` of a memory folder.

    Raises:
        InputError: The file is missing, not JSON, or not a valid manifest.
    """
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


def read_embeddings(root: Path, manifest: MemoryManifest, *, mmap: bool) -> np.ndarray:
    """Read ``embeddings.npy`` (memory-mapped when ``mmap``), checked against the manifest.

    Raises:
        InputError: The file is missing, unreadable, or of the wrong type or shape.
    """
    path = root / EMBEDDINGS_FILE
    if not path.is_file():
        raise InputError(f"Memory folder '{root}' has no {EMBEDDINGS_FILE}; rebuild the memory.")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"'{path}' cannot be read as a NumPy array ({first_line(exc)}); rebuild the memory."
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


def read_entries(path: Path, count: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """Read ``entries.jsonl``: texts, labels, categories and sources, ``count`` of each.

    Raises:
        InputError: The file is missing, a line is not an entry, or the count differs.
    """
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


def read_ann(root: Path, manifest: MemoryManifest) -> AnnIndex | None:
    """Read the saved FAISS index, or None (none saved, FAISS missing, or a bad file: warned)."""
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
        log.warning("Ignoring the FAISS index '%s' (%s); searching exactly.", path, first_line(exc))
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
