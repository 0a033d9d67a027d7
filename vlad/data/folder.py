"""A plain folder of images with optional pixel masks, read into manifest records.

For training learned prompts on your own product images. The layout::

    ROOT/good/0001.png              normal images (``normal/`` is read the same way)
    ROOT/DEFECT/0001.png            anomalous images, one folder per defect type (any other name)
    ROOT/masks/DEFECT/0001.png      the mask of ROOT/DEFECT/0001.png (``0001_mask.png`` too)
    ROOT/0001.png                   loose images: anomalous when ``ROOT/masks/0001.png`` (or
                                    ``0001_mask.png``) marks a pixel, normal otherwise

Masks are grayscale or RGB images of their image's size; any non-zero pixel is anomalous.
What cannot be used is skipped with one sentence each (logger ``vlad.data.folder``, and the
``skipped`` list when given): an anomalous image without a mask (with ``require_masks``), an
image or mask that cannot be read, a mask of another size, a defect folder with no image.
A folder with nothing usable is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from vlad.data.layout import image_files, root_folder, subfolders
from vlad.data.manifest import ManifestRecord
from vlad.errors import InputError

log = logging.getLogger(__name__)

NAME = "image folder"
SOURCE = "folder"
NORMAL_FOLDERS: frozenset[str] = frozenset({"good", "normal"})
MASKS_FOLDER = "masks"


def read_folder(
    root: str | Path,
    *,
    category: str | None = None,
    split: str = "train",
    require_masks: bool = True,
    skipped: list[str] | None = None,
) -> list[ManifestRecord]:
    """Read a folder of normal and anomalous images (and their masks) into records.

    Args:
        root: The folder (layout in the module docstring).
        category: The records' category (default: the folder's name).
        split: The records' split (``train``, ``validation`` or ``test``).
        require_masks: Skip an anomalous image that has no mask (training needs one);
            without it such an image is kept with ``mask`` None.
        skipped: When given, each skipped file's sentence is appended to it.

    Returns:
        Records in folder, file order; ids ``CATEGORY/SPLIT/FOLDER/STEM`` (``FOLDER`` is
        ``.`` for loose images).

    Raises:
        InputError: ``root`` is not a folder (``param="root"``), or it holds no usable image.
    """
    folder = root_folder(root, NAME)
    name = category if category is not None else folder.name
    masks = folder / MASKS_FOLDER
    notes: list[str] = [] if skipped is None else skipped

    def skip(sentence: str) -> None:
        log.warning("%s", sentence)
        notes.append(sentence)

    records: list[ManifestRecord] = []
    for image in image_files(folder):
        mask = _find_mask(masks, image.stem)
        label = 0
        if mask is not None:
            foreground = _mask_foreground(mask, image, skip)
            if foreground is None:
                continue
            label = int(foreground)
        elif not _readable(image, skip):
            continue
        records.append(_record(image, name, split, ".", label, mask if label else None))
    for group in subfolders(folder):
        if group.name == MASKS_FOLDER:
            continue
        images = image_files(group)
        if not images:
            skip(f"The folder {group} holds no image; it is skipped.")
            continue
        normal = group.name in NORMAL_FOLDERS
        for image in images:
            if normal:
                if _readable(image, skip):
                    records.append(_record(image, name, split, group.name, 0, None))
                continue
            mask = _find_mask(masks / group.name, image.stem)
            if mask is None:
                if require_masks:
                    skip(
                        f"The anomalous image {image} has no mask "
                        f"({masks / group.name / image.stem}.png); it is skipped."
                    )
                    continue
                if _readable(image, skip):
                    records.append(_record(image, name, split, group.name, 1, None))
                continue
            if _mask_foreground(mask, image, skip) is not None:
                records.append(_record(image, name, split, group.name, 1, mask))
    if not records:
        raise InputError(
            f"The {NAME} {folder} holds no usable image; put normal images in good/ and "
            "anomalous ones in a defect folder with masks in masks/DEFECT/.",
            param="root",
        )
    return records


def _find_mask(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.png", folder / f"{stem}_mask.png"):
        if candidate.is_file():
            return candidate
    return None


def _readable(image: Path, skip: Callable[[str], None]) -> bool:
    try:
        with Image.open(image) as opened:
            opened.verify()
    except (OSError, SyntaxError, ValueError):
        skip(f"The image {image} cannot be read; it is skipped.")
        return False
    return True


def _mask_foreground(mask: Path, image: Path, skip: Callable[[str], None]) -> bool | None:
    """Whether a mask marks a pixel; None (after a sentence) when it or its image is unusable."""
    try:
        with Image.open(image) as opened:
            image_size = opened.size
            opened.verify()
    except (OSError, SyntaxError, ValueError):
        skip(f"The image {image} cannot be read; it is skipped.")
        return None
    try:
        with Image.open(mask) as opened:
            values = np.asarray(opened.convert("L"))
    except (OSError, SyntaxError, ValueError):
        skip(f"The mask {mask} cannot be read; its image {image} is skipped.")
        return None
    height, width = values.shape
    if (width, height) != image_size:
        skip(
            f"The mask {mask} is {height}x{width} but its image {image} is "
            f"{image_size[1]}x{image_size[0]} (height x width); the image is skipped."
        )
        return None
    return bool(values.any())


def _record(
    image: Path, category: str, split: str, group: str, label: int, mask: Path | None
) -> ManifestRecord:
    return ManifestRecord(
        id=f"{category}/{split}/{group}/{image.stem}",
        path=str(image),
        kind="image",
        split=split,
        source=SOURCE,
        category=category,
        label=label,
        mask=None if mask is None else str(mask),
    )
