"""Helpers the benchmark readers share: finding folders and frames, one sentence when missing.

A missing or malformed part of a benchmark's layout is an :class:`~vlad.errors.InputError`
whose sentence says what is missing and where it was looked for.
"""

from __future__ import annotations

from pathlib import Path

from vlad.errors import InputError

FRAME_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm"})


def root_folder(root: str | Path, benchmark: str) -> Path:
    """The benchmark's root folder, checked to exist, made absolute (manifests hold absolute paths).

    Raises:
        InputError: ``root`` is not a folder (``param="root"``).
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise InputError(
            f"root {folder} is not a folder; give the folder holding {benchmark}.", param="root"
        )
    return folder.resolve()


def need_folder(path: Path, benchmark: str, what: str) -> Path:
    """``path``, checked to be a folder.

    Raises:
        InputError: "The {benchmark} layout is incomplete: {what} {path} is missing."
    """
    if not path.is_dir():
        raise InputError(f"The {benchmark} layout is incomplete: {what} {path} is missing.")
    return path


def need_file(path: Path, benchmark: str, what: str) -> Path:
    """``path``, checked to be a file (same sentence as :func:`need_folder`)."""
    if not path.is_file():
        raise InputError(f"The {benchmark} layout is incomplete: {what} {path} is missing.")
    return path


def subfolders(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder`` in name order."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a frame folder, in name order (hidden files skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")
    )


def count_frames(folder: Path, benchmark: str) -> int:
    """Number of frame images in a frame folder.

    Raises:
        InputError: The folder holds no frame image.
    """
    count = len(frame_files(folder))
    if count == 0:
        raise InputError(f"The {benchmark} frame folder {folder} holds no frame images.")
    return count


def image_files(folder: Path) -> list[Path]:
    """Image files of a folder in name order (same suffixes as frames)."""
    return frame_files(folder)
