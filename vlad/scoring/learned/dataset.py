"""Training samples for learned prompts: manifest records -> (image, mask, label) tensors.

Each image is resized to ``image_size`` x ``image_size`` (bicubic, as the authors' training
does) and normalised with the CLIP's mean and std; its mask is resized with nearest
neighbours and binarised (any non-zero pixel is anomalous); a normal image gets an empty mask.
:func:`training_records` chooses the records a run can learn from and says in one sentence
why any other is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from vlad.data.manifest import ManifestRecord
from vlad.errors import InputError

log = logging.getLogger(__name__)

OPENAI_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


def training_records(
    records: Sequence[ManifestRecord],
    *,
    splits: Sequence[str] | None = ("test",),
    skipped: list[str] | None = None,
) -> list[ManifestRecord]:
    """The records a prompt-training run can use: images with a label, and a mask when anomalous.

    Args:
        records: Records from a reader (:func:`vlad.data.mvtec.read_mvtec` ...).
        splits: Keep only these splits (None: all). The authors train on the test split of
            the auxiliary dataset, the one with anomalies and masks.
        skipped: When given, a sentence per record left out (a label missing, an anomalous
            image without a mask, a file that cannot be read) is appended to it.

    Returns:
        The usable records, in their order.

    Raises:
        InputError: No record is usable (``param="data"``), or none is anomalous (the
            map losses need anomalous pixels).
    """
    notes: list[str] = [] if skipped is None else skipped

    def skip(sentence: str) -> None:
        log.warning("%s", sentence)
        notes.append(sentence)

    kept: list[ManifestRecord] = []
    for record in records:
        if splits is not None and record.split not in splits:
            continue
        if record.kind != "image":
            skip(f"{record.id} is a {record.kind}, not an image; it is skipped.")
        elif record.label is None:
            skip(f"{record.id} has no label; it is skipped.")
        elif record.label == 1 and record.mask is None:
            skip(f"The anomalous image {record.id} has no mask; it is skipped.")
        elif not _readable(record.path) or (record.mask and not _readable(record.mask)):
            skip(f"{record.id}: its image or mask cannot be read; it is skipped.")
        else:
            kept.append(record)
    chosen = "any split" if splits is None else f"the split(s) {', '.join(splits)}"
    if not kept:
        raise InputError(
            f"The data holds no usable labelled image in {chosen}; check the folder and the split.",
            param="data",
        )
    if not any(record.label == 1 for record in kept):
        raise InputError(
            f"The data holds no anomalous image with a mask in {chosen}; training needs some.",
            param="data",
        )
    return kept


def _readable(path: str) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


class SegmentationDataset(torch.utils.data.Dataset):
    """Images, masks and labels of manifest records, as CLIP-ready tensors.

    Items are dicts: ``image`` float ``[3, S, S]``, ``mask`` float ``[S, S]`` (0/1),
    ``label`` int64 scalar, ``index`` int (the record's position).

    Args:
        records: Records with a label, and a mask when anomalous (see :func:`training_records`).
        image_size: Side ``S`` of the square input.
        mean: Per-channel normalisation mean of the CLIP.
        std: Per-channel normalisation std of the CLIP.

    Raises:
        InputError: ``image_size`` < 1, or a record without label or (anomalous) without mask.
    """

    def __init__(
        self,
        records: Sequence[ManifestRecord],
        *,
        image_size: int,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
    ) -> None:
        if image_size < 1:
            raise InputError(f"image_size must be >= 1, got {image_size}.", param="image_size")
        for record in records:
            if record.label is None or (record.label == 1 and record.mask is None):
                raise InputError(
                    f"{record.id} lacks a label or (anomalous) a mask; filter the records with "
                    "training_records first."
                )
        self.records = list(records)
        self.image_size = image_size
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The sample of record ``index``.

        Raises:
            InputError: The image or mask cannot be read now.
        """
        record = self.records[index]
        size = (self.image_size, self.image_size)
        try:
            with Image.open(record.path) as opened:
                image = opened.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        except OSError as exc:
            raise InputError(f"The image {record.path} cannot be read.") from exc
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        pixels = (pixels - self.mean) / self.std
        if record.mask is None:
            mask = torch.zeros(size, dtype=torch.float32)
        else:
            try:
                with Image.open(record.mask) as opened:
                    values = opened.convert("L").resize(size, Image.Resampling.NEAREST)
            except OSError as exc:
                raise InputError(f"The mask {record.mask} cannot be read.") from exc
            mask = torch.from_numpy((np.asarray(values) > 0).astype(np.float32))
        return {
            "image": pixels,
            "mask": mask,
            "label": torch.tensor(int(record.label or 0), dtype=torch.int64),
            "index": index,
        }
