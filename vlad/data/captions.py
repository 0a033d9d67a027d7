"""AnomalyRuler's caption datasets: frame captions with frame labels, read as records.

The layout, per dataset folder ``ROOT/NAME``::

    test_frame/test_01.csv               image_path,label  (one row per frame, 1 = anomalous)
    test_frame_description/test_01.txt   one caption per line, line i = frame i
    rules.txt                            optional: the rules to judge by

A caption file may be one line shorter than its label file (the paper's captioner skipped
the last frame): the two are aligned on the shorter length. A larger difference is an
error, since it means the files do not belong together.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlad.errors import InputError

LABEL_DIR = "test_frame"
CAPTION_DIR = "test_frame_description"
RULES_FILE = "rules.txt"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionVideo:
    """One video of a caption dataset.

    Attributes:
        name: The video's name (the file stem, e.g. ``test_01``).
        captions: One caption per frame.
        labels: (N,) 0/1 frame labels, as many as captions.
    """

    name: str
    captions: tuple[str, ...]
    labels: np.ndarray


def _read_labels(path: Path) -> np.ndarray:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames is None or "label" not in reader.fieldnames:
                raise InputError(
                    f"The label file {path} has no 'label' column; it needs the header "
                    "'image_path,label'."
                )
            labels = []
            for row_number, row in enumerate(reader, start=2):
                value = (row.get("label") or "").strip()
                if value not in ("0", "1"):
                    raise InputError(
                        f"Line {row_number} of {path} has label {value!r}; labels are 0 or 1."
                    )
                labels.append(int(value))
    except UnicodeDecodeError as exc:
        raise InputError(f"The label file {path} is not UTF-8 text; export it as CSV.") from exc
    if not labels:
        raise InputError(f"The label file {path} has no rows; it needs one row per frame.")
    return np.asarray(labels, dtype=np.int8)


@dataclass(frozen=True)
class CaptionDataset:
    """A caption dataset as read, with the videos that could not be used.

    Attributes:
        videos: The videos with captions, in name order.
        skipped: The names of videos left out because their caption file is missing.
    """

    videos: tuple[CaptionVideo, ...]
    skipped: tuple[str, ...] = ()


def load_caption_dataset(root: str | Path, dataset: str) -> list[CaptionVideo]:
    """Read every video of a caption dataset, labels aligned with captions.

    Strict: a video without its caption file is an error (see
    :func:`read_caption_dataset` to skip it instead).

    Args:
        root: Folder holding one folder per dataset.
        dataset: Dataset folder name, e.g. ``ped2``.

    Returns:
        The videos in name order.

    Raises:
        InputError: A folder or caption file is missing, a file is empty or unreadable, a
            label is not 0/1, or a caption file differs from its labels by more than one line.
    """
    return list(_read_dataset(root, dataset, skip_missing=False).videos)


def read_caption_dataset(root: str | Path, dataset: str) -> CaptionDataset:
    """Read a caption dataset, skipping each video whose caption file is missing.

    A real benchmark may lack the captions of a video; that video is left out with a
    one-line warning naming it (logger ``vlad.data.captions``) and listed in
    :attr:`CaptionDataset.skipped`, and the others are read as
    :func:`load_caption_dataset` reads them.

    Args:
        root: Folder holding one folder per dataset.
        dataset: Dataset folder name, e.g. ``ped2``.

    Returns:
        The videos in name order and the names of those skipped.

    Raises:
        InputError: As :func:`load_caption_dataset`, except for a missing caption file;
            or no video has a caption file at all.
    """
    return _read_dataset(root, dataset, skip_missing=True)


def _read_dataset(root: str | Path, dataset: str, *, skip_missing: bool) -> CaptionDataset:
    folder = Path(root).expanduser() / dataset
    labels_dir = folder / LABEL_DIR
    if not folder.is_dir():
        raise InputError(
            f"There is no dataset folder {folder}; give a root folder holding a '{dataset}' "
            "folder.",
            param="root",
        )
    if not labels_dir.is_dir():
        raise InputError(
            f"The dataset folder {folder} has no '{LABEL_DIR}' folder of label CSV files."
        )
    label_files = sorted(labels_dir.glob("*.csv"))
    if not label_files:
        raise InputError(f"The folder {labels_dir} holds no .csv label file.")
    videos = []
    skipped: list[str] = []
    for label_file in label_files:
        caption_file = folder / CAPTION_DIR / f"{label_file.stem}.txt"
        if not caption_file.is_file():
            if not skip_missing:
                raise InputError(
                    f"The captions of {label_file.stem} are missing: expected {caption_file}."
                )
            log.warning(
                "Skipping video %s of dataset '%s': its caption file %s is missing.",
                label_file.stem,
                dataset,
                caption_file,
            )
            skipped.append(label_file.stem)
            continue
        videos.append(_read_video(label_file, caption_file))
    if not videos:
        raise InputError(
            f"No video of dataset '{dataset}' has a caption file in {folder / CAPTION_DIR}; "
            "caption the frames first (one .txt per video)."
        )
    return CaptionDataset(tuple(videos), tuple(skipped))


def read_caption_video(root: str | Path, dataset: str, name: str) -> CaptionVideo:
    """Read one video of a caption dataset: its labels and captions, aligned.

    Args:
        root: Folder holding one folder per dataset.
        dataset: Dataset folder name, e.g. ``ped2``.
        name: The video's name (its label file's stem, e.g. ``test_01``).

    Returns:
        The video, read as :func:`load_caption_dataset` reads it.

    Raises:
        InputError: Its label or caption file is missing, or as :func:`load_caption_dataset`.
    """
    folder = Path(root).expanduser() / dataset
    label_file = folder / LABEL_DIR / f"{name}.csv"
    caption_file = folder / CAPTION_DIR / f"{name}.txt"
    if not label_file.is_file():
        raise InputError(f"The labels of {name} are missing: expected {label_file}.")
    if not caption_file.is_file():
        raise InputError(f"The captions of {name} are missing: expected {caption_file}.")
    return _read_video(label_file, caption_file)


def _read_video(label_file: Path, caption_file: Path) -> CaptionVideo:
    """One video: its labels and captions, aligned on the shorter (by at most one line)."""
    labels = _read_labels(label_file)
    try:
        captions = caption_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"The caption file {caption_file} is not UTF-8 text.") from exc
    if not captions:
        raise InputError(f"The caption file {caption_file} is empty; it needs one per frame.")
    if abs(len(captions) - len(labels)) > 1:
        raise InputError(
            f"{caption_file} has {len(captions)} captions but {label_file} has "
            f"{len(labels)} labels; they must describe the same frames."
        )
    count = min(len(captions), len(labels))
    return CaptionVideo(label_file.stem, tuple(captions[:count]), labels[:count])


def dataset_rules_file(root: str | Path, dataset: str) -> Path | None:
    """The dataset's own ``rules.txt``, or None when it has none."""
    path = Path(root).expanduser() / dataset / RULES_FILE
    return path if path.is_file() else None
