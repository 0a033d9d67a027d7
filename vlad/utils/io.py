"""Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Everything is first written under a hidden temporary name in the target's own folder (so the
final rename stays on one file system) and renamed into place when complete. A write that
fails or is interrupted (a full disk, Ctrl-C) removes its temporary file or folder and
leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "atomic_folder",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "foreign_entries",
    "sync",
]

TEMP_SUFFIX = ".tmp"
"""Suffix of the temporary file of an :func:`atomic_open` write (``.NAME.RANDOM.tmp``)."""

PARTIAL_SUFFIX = ".partial"
"""Suffix of the temporary folder of an :func:`atomic_folder` write (``.NAME.RANDOM.partial``)."""


def sync(stream: IO[Any]) -> None:
    """Flush a file object and ask the OS to put its content on disk.

    Args:
        stream: An open, writable file object with a file descriptor.
    """
    stream.flush()
    os.fsync(stream.fileno())


@contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str = "utf-8",
    durable: bool = True,
) -> Iterator[IO[Any]]:
    """Open a file for writing that appears at ``path`` only once the block ends normally.

    For writers that stream (one JSON line at a time): the stream is a hidden temporary
    file beside ``path``; when the ``with`` block ends it is flushed (and, with
    ``durable``, synced to disk) and renamed over ``path``. When the block raises
    (KeyboardInterrupt included) the temporary file is removed and ``path`` is untouched.
    The parent folder is created when missing.

    Args:
        path: The file to write.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: Text encoding (text mode only).
        durable: Sync the file to disk before the rename, so that a power cut cannot
            leave an empty file in place of the old one.

    Yields:
        The open temporary file.

    Raises:
        ValueError: When ``mode`` is neither ``"w"`` nor ``"wb"``.
        OSError: When the file cannot be written or renamed (the target is a folder...).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes with mode 'w' or 'wb', not {mode!r}.")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary, stream = _create_temporary(target, binary=mode == "wb", encoding=encoding)
    try:
        with stream:
            yield stream
            if durable:
                sync(stream)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", durable: bool = True
) -> Path:
    """Write text to a file atomically (see :func:`atomic_open`).

    Args:
        path: The file.
        text: Its whole new content.
        encoding: Text encoding.
        durable: Sync to disk before the rename.

    Returns:
        The file's path.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> atomic_write_text(folder / "notes.txt", "hello").read_text()
        'hello'
    """
    with atomic_open(path, "w", encoding=encoding, durable=durable) as stream:
        stream.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write bytes to a file atomically (see :func:`atomic_open`).

    Args:
        path: The file.
        data: Its whole new content.
        durable: Sync to disk before the rename.

    Returns:
        The file's path.
    """
    with atomic_open(path, "wb", durable=durable) as stream:
        stream.write(data)
    return Path(path)


@contextmanager
def atomic_folder(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    owned: Collection[str] | None = None,
) -> Iterator[Path]:
    """Build a folder under a hidden temporary name and rename it to ``path`` when done.

    The block fills the yielded folder. When it ends normally the folder is renamed to
    ``path``; with ``overwrite``, an existing ``path`` is first moved aside and removed
    only once the new folder is in place (it is put back if that rename fails). When the
    block raises, the temporary folder is removed and ``path`` is untouched. Callers that
    must not replace anything check ``path`` before the long work starts.

    With ``owned`` (the names of the files the writer makes), an existing folder is
    replaced only when it holds nothing else, and only those files are removed from it:
    a file the writer did not make is never deleted (the write fails, checked again just
    before the swap, and the old folder stays as it was).

    Args:
        path: The folder to create.
        overwrite: Replace an existing folder at ``path``.
        owned: The names of the files (in the folder itself) the writer may remove when
            it replaces the folder; None: the old folder is removed whole.

    Yields:
        The temporary folder (``.NAME.RANDOM.partial`` beside ``path``), empty.

    Raises:
        FileExistsError: With ``overwrite`` and ``owned``, the old folder holds other
            entries (the message names them).
        OSError: When the rename fails, e.g. ``path`` exists (not empty) without
            ``overwrite``, or is a file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent)
    )
    try:
        yield partial
        if overwrite and target.is_dir():
            if owned is not None:
                foreign = foreign_entries(target, owned)
                if foreign:
                    raise FileExistsError(
                        f"'{target}' holds entries it was not written with "
                        f"({', '.join(foreign)}); it is not replaced."
                    )
            old = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
            target.rename(old)
            try:
                partial.rename(target)
            except BaseException:
                old.rename(target)
                raise
            _remove_old(old, owned)
        else:
            partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def foreign_entries(folder: str | os.PathLike[str], owned: Collection[str]) -> list[str]:
    """The names in a folder that are not among ``owned`` (or are not plain files), sorted.

    Args:
        folder: An existing folder.
        owned: The file names a writer makes there.

    Returns:
        The other entries' names (a sub-folder is always foreign), sorted; empty when the
        folder holds only owned files.
    """
    return sorted(
        entry.name
        for entry in Path(folder).iterdir()
        if entry.name not in owned or entry.is_symlink() or not entry.is_file()
    )


def _remove_old(old: Path, owned: Collection[str] | None) -> None:
    """Remove a replaced folder: whole, or only its owned files (then the folder if empty)."""
    if owned is None:
        shutil.rmtree(old, ignore_errors=True)
        return
    for name in owned:
        (old / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something appeared there meanwhile: it stays
        old.rmdir()


def _create_temporary(target: Path, *, binary: bool, encoding: str) -> tuple[Path, IO[Any]]:
    """Create ``.NAME.RANDOM.tmp`` beside the target, exclusively, with default permissions.

    ``open(..., "x")`` rather than :func:`tempfile.mkstemp`: mkstemp's files are private
    (0600), and the renamed file would keep that mode instead of the one a plain write gives.
    """
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            if binary:
                return temporary, open(temporary, "xb")
            return temporary, open(temporary, "x", encoding=encoding)
        except FileExistsError:
            continue
