"""AnomalyRuler's caption datasets (:mod:`vlad.data.captions`) as manifest records.

One record per label file ``ROOT/NAME/test_frame/VIDEO.csv``: a test frame folder with its
frame labels as intervals. The folder is where the CSV's ``image_path`` column points
(``ped2/test/01/000.jpg`` -> ``ROOT/ped2/test/01``, relative to ``ROOT``); the frames
themselves need not be on disk, since the captions stand in for them.
"""

from __future__ import annotations

import csv
from pathlib import Path

from vlad.data.captions import LABEL_DIR, load_caption_dataset
from vlad.data.layout import root_folder
from vlad.data.manifest import ManifestRecord, intervals_from_labels
from vlad.errors import ConfigError

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
