"""VisA (Zou et al., ECCV 2022) through its own split file, read into manifest records.

The download (``VisA_20220922.tar``) unpacks to one folder per object and ``split_csv/``::

    ROOT/candle/Data/Images/Normal/0000.JPG
    ROOT/candle/Data/Images/Anomaly/000.JPG
    ROOT/candle/Data/Masks/Anomaly/000.png
    ROOT/split_csv/1cls.csv    object,split,label,image,mask   (paths relative to ROOT)

``label`` is ``normal`` or ``anomaly``; ``mask`` is empty for normal images. The one-class
split (``1cls.csv``) is the one the zero-shot papers report on; the few-shot splits
(``2cls_fewshot.csv``, ``2cls_highshot.csv``) have the same columns and can be chosen.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from vlad.data.layout import need_file, root_folder
from vlad.data.manifest import ManifestRecord
from vlad.data.mvtec import check_categories, check_mask
from vlad.errors import InputError

NAME = "VisA"
SOURCE = "visa"
SPLIT_FILE = "split_csv/1cls.csv"
CATEGORIES: tuple[str, ...] = (
    "candle",
    "capsules",
    "cashew",
    "chewinggum",
    "fryum",
    "macaroni1",
    "macaroni2",
    "pcb1",
    "pcb2",
    "pcb3",
    "pcb4",
    "pipe_fryum",
)
COLUMNS: tuple[str, ...] = ("object", "split", "label", "image", "mask")
LABELS: dict[str, int] = {"normal": 0, "anomaly": 1}
SPLITS: dict[str, str] = {"train": "train", "test": "test"}


def read_visa(
    root: str | Path,
    *,
    categories: Sequence[str] | None = None,
    split_file: str = SPLIT_FILE,
) -> list[ManifestRecord]:
    """Read VisA's images as its split file lists them.

    Args:
        root: The unpacked folder (holding the object folders and ``split_csv/``).
        categories: Only these objects (default: all the split file lists).
        split_file: The split file, relative to ``root``.

    Returns:
        Records in split-file order; ids ``OBJECT/SPLIT/LABEL/STEM``.

    Raises:
        InputError: The split file lacks a column, a row names an unknown object, label or
            split, an image or mask is missing, an anomalous image has no mask, or a mask is
            not its image's size.
    """
    folder = root_folder(root, NAME)
    wanted = check_categories(categories, CATEGORIES, NAME)
    table = need_file(folder / split_file, NAME, "the split file")
    records: list[ManifestRecord] = []
    with table.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"The {NAME} split file {table} lacks the column(s) {', '.join(missing)}; "
                f"its header is {','.join(COLUMNS)}."
            )
        for number, row in enumerate(reader, start=2):
            where = f"{table.name} line {number}"
            category = row["object"].strip()
            if category not in CATEGORIES:
                raise InputError(
                    f"{where} names the object {category!r}, which is not a {NAME} category; "
                    f"known: {', '.join(CATEGORIES)}."
                )
            if wanted is not None and category not in wanted:
                continue
            label = LABELS.get(row["label"].strip())
            split = SPLITS.get(row["split"].strip())
            if label is None or split is None:
                raise InputError(
                    f"{where} has split {row['split']!r} and label {row['label']!r}; splits are "
                    "train or test, labels normal or anomaly."
                )
            image = need_file(folder / row["image"].strip(), NAME, "the image")
            mask_value = (row["mask"] or "").strip()
            mask = None
            if label == 1:
                if not mask_value:
                    raise InputError(f"{where} gives the anomalous image {image.name} no mask.")
                mask = need_file(folder / mask_value, NAME, "the mask")
                check_mask(image, mask, NAME)
            records.append(
                ManifestRecord(
                    id=f"{category}/{split}/{row['label'].strip()}/{image.stem}",
                    path=str(image),
                    kind="image",
                    split=split,
                    source=SOURCE,
                    category=category,
                    label=label,
                    mask=None if mask is None else str(mask),
                )
            )
    if not records:
        raise InputError(f"The {NAME} split file {table} lists no image of the chosen objects.")
    return records
