"""AnomalyRuler's caption datasets (:mod:`vlad.data.captions`) as manifest records.

One record per label file ``ROOT/NAME/test_frame/VIDEO.csv``: a test frame folder with its
frame labels as intervals. The folder is where the CSV's ``image_path`` column points
(``ped2/test/01/000.jpg`` -> ``ROOT/ped2/test/01``, relative to ``ROOT``); the frames
themselves need not be on disk, since the captions stand in for them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vlad.data.captions import (
    LABEL_DIR,
    CaptionDataset,
    load_caption_dataset,
    read_caption_video,
)
from vlad.data.layout import root_folder
from vlad.data.manifest import ManifestRecord, intervals_from_labels, read_manifest
from vlad.errors import ConfigError, InputError

SOURCE = "anomalyruler"
DATASETS: tuple[str, ...] = ("ped2", "avenue", "shanghaitech")


def _frame_folder(root: Path, label_file: Path) -> Path:
    """The folder of the first ``image_path`` of a label file (the file itself if none)."""
    with label_file.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            value = (row.get("image_path") or "").strip()
            if value:
                return root / Path(value).parent
    return label_file


def read_anomalyruler(root: str | Path, *, dataset: str | None = None) -> list[ManifestRecord]:
    """Read one caption dataset's videos as test records.

    Args:
        root: The folder holding one folder per caption dataset.
        dataset: The dataset folder's name (``ped2``, ``avenue``, ``shanghaitech`` ...).

    Returns:
        One record per video in name order; ids ``anomalyruler/DATASET/VIDEO``, category
        the dataset name.

    Raises:
        ConfigError: No dataset is given (``param="dataset"``).
        InputError: As :func:`vlad.data.captions.load_caption_dataset`.
    """
    if not dataset:
        raise ConfigError(
            f"dataset is needed: the name of a caption dataset folder, e.g. {', '.join(DATASETS)}.",
            param="dataset",
        )
    folder = root_folder(root, "the AnomalyRuler caption datasets")
    videos = load_caption_dataset(folder, dataset)
    records = []
    for video in videos:
        label_file = folder / dataset / LABEL_DIR / f"{video.name}.csv"
        intervals = intervals_from_labels(video.labels)
        records.append(
            ManifestRecord(
                id=f"{SOURCE}/{dataset}/{video.name}",
                path=str(_frame_folder(folder, label_file)),
                kind="frames",
                split="test",
                source=SOURCE,
                category=dataset,
                label=1 if intervals else 0,
                frames=len(video.labels),
                intervals=intervals,
            )
        )
    return records


@dataclass(frozen=True)
class CaptionManifest:
    """A caption manifest read back into the caption dataset it was written from.

    Attributes:
        root: The folder holding the dataset folder (what ``--root`` names).
        dataset: The dataset folder's name (what ``--dataset`` names).
        captions: The videos of the manifest, in its order, read from their files.
    """

    root: Path
    dataset: str
    captions: CaptionDataset


def _caption_root(record: ManifestRecord, dataset: str, video: str) -> Path | None:
    """The nearest folder at or above the record's path holding its label file, or None."""
    path = Path(record.path).expanduser()
    for folder in (path, *path.parents):
        if (folder / dataset / LABEL_DIR / f"{video}.csv").is_file():
            return folder
    return None


def read_caption_manifest(path: str | Path) -> CaptionManifest:
    """Read a manifest of ``vlad data prepare anomalyruler`` as its caption dataset.

    Each record's captions and labels are read again from the files it was prepared from
    (``ROOT/DATASET/test_frame/VIDEO.csv`` and ``test_frame_description/VIDEO.txt``, found
    at or above the record's path), so the videos are those :func:`load_caption_dataset`
    reads from ``ROOT`` and ``DATASET``.

    Args:
        path: The manifest file.

    Returns:
        The root, the dataset name and the videos, in the manifest's order.

    Raises:
        InputError: As :func:`vlad.data.manifest.read_manifest`; the manifest is empty, a
            record is not an AnomalyRuler caption record, the records come from more than
            one dataset or root, a record's label or caption file is missing, or a
            record's frame labels differ from its files (``param="manifest"`` for the
            manifest-wide ones).
    """
    source = Path(path).expanduser()
    records = read_manifest(source)
    if not records:
        raise InputError(f"The manifest {source} holds no record.", param="manifest")
    prepare = "write one with 'vlad data prepare anomalyruler --root ROOT --dataset NAME'"
    root: Path | None = None
    dataset = ""
    videos = []
    for record in records:
        parts = record.id.split("/")
        if record.source != SOURCE or len(parts) != 3 or parts[1] != record.category:
            raise InputError(
                f"The manifest {source} holds a record of {record.source!r} ({record.id}), "
                f"not of AnomalyRuler's captions; {prepare}.",
                param="manifest",
            )
        name, video = parts[1], parts[2]
        if dataset and name != dataset:
            raise InputError(
                f"The manifest {source} mixes the caption datasets {dataset} and {name}; "
                "evaluate one dataset at a time.",
                param="manifest",
            )
        dataset = name
        found = _caption_root(record, dataset, video)
        if found is None:
            raise InputError(
                f"The labels of record {record.id} are missing: no folder at or above "
                f"{record.path} holds {dataset}/{LABEL_DIR}/{video}.csv."
            )
        if root is not None and found != root:
            raise InputError(
                f"The manifest {source} mixes the dataset folders {root / dataset} and "
                f"{found / dataset}; evaluate one dataset at a time.",
                param="manifest",
            )
        root = found
        caption_video = read_caption_video(root, dataset, video)
        if record.frames != len(caption_video.labels) or record.intervals != intervals_from_labels(
            caption_video.labels
        ):
            raise InputError(
                f"The frame labels of record {record.id} differ from those of its files in "
                f"{root / dataset}; prepare the manifest again."
            )
        videos.append(caption_video)
    assert root is not None
    return CaptionManifest(root=root, dataset=dataset, captions=CaptionDataset(tuple(videos)))
