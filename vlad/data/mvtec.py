"""MVTec AD as published (Bergmann et al., CVPR 2019), read into manifest records.

The layout of the download, per category folder ``ROOT/CATEGORY``::

    train/good/000.png                     normal training images
    test/good/000.png                      normal test images
    test/DEFECT/000.png                    anomalous test images, one folder per defect type
    ground_truth/DEFECT/000_mask.png       the pixel mask of test/DEFECT/000.png

Every anomalous test image must have its mask, of the image's own size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from vlad.data.layout import image_files, need_file, need_folder, root_folder, subfolders
from vlad.data.manifest import ManifestRecord
from vlad.errors import InputError

NAME = "MVTec AD"
CATEGORIES: tuple[str, ...] = (
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper",
)
NORMAL = "good"


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header.

    Raises:
        InputError: The file is not an image PIL can open.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as exc:
        raise InputError(f"{path} is not a readable image.") from exc
    return height, width


def check_mask(image: Path, mask: Path, benchmark: str) -> None:
    """Check that a mask has its image's size.

    Raises:
        InputError: The sizes differ (both given as height x width).
    """
    image_hw = image_size(image)
    mask_hw = image_size(mask)
    if image_hw != mask_hw:
        raise InputError(
            f"The {benchmark} mask {mask} is {mask_hw[0]}x{mask_hw[1]} but its image {image} "
            f"is {image_hw[0]}x{image_hw[1]} (height x width); they must match."
        )


def check_categories(
    requested: Sequence[str] | None, known: Sequence[str], benchmark: str
) -> list[str] | None:
    """The requested categories, checked against the benchmark's own list.

    Raises:
        InputError: A requested category is not one of the benchmark's (``param="categories"``).
    """
    if requested is None:
        return None
    for name in requested:
        if name not in known:
            raise InputError(
                f"categories names {name!r}, which is not one of the {benchmark} categories: "
                f"{', '.join(known)}.",
                param="categories",
            )
    return list(requested)


def read_mvtec(
    root: str | Path, *, categories: Sequence[str] | None = None
) -> list[ManifestRecord]:
    """Read MVTec AD's train and test images into records.

    Args:
        root: The folder holding the category folders (``bottle/``, ``cable/`` ...).
        categories: Only these categories (default: every category folder present).

    Returns:
        Records in category, split, defect, file order; ids ``CATEGORY/SPLIT/DEFECT/STEM``.

    Raises:
        InputError: No category folder, an unknown category folder, a missing ``train`` or
            ``test`` folder, a missing mask or a mask of the wrong size.
    """
    folder = root_folder(root, NAME)
    wanted = check_categories(categories, CATEGORIES, NAME)
    present = [p for p in subfolders(folder) if (p / "test").is_dir() or (p / "train").is_dir()]
    for path in present:
        if path.name not in CATEGORIES:
            raise InputError(
                f"The {NAME} folder {path} is not a known category; known: {', '.join(CATEGORIES)}."
            )
    names = wanted if wanted is not None else [p.name for p in present]
    if not names:
        raise InputError(
            f"The {NAME} layout is incomplete: {folder} holds no category folder "
            "(bottle/, cable/ ... each with train/ and test/)."
        )
    records: list[ManifestRecord] = []
    for category in names:
        base = need_folder(folder / category, NAME, "the category folder")
        train = need_folder(base / "train" / NORMAL, NAME, "the training folder")
        test = need_folder(base / "test", NAME, "the test folder")
        for image in image_files(train):
            records.append(_record(image, category, "train", NORMAL, None))
        for defect in subfolders(test):
            for image in image_files(defect):
                mask = None
                if defect.name != NORMAL:
                    mask = need_file(
                        base / "ground_truth" / defect.name / f"{image.stem}_mask.png",
                        NAME,
                        "the mask",
                    )
                    check_mask(image, mask, NAME)
                records.append(_record(image, category, "test", defect.name, mask))
    return records


def _record(
    image: Path, category: str, split: str, defect: str, mask: Path | None
) -> ManifestRecord:
    return ManifestRecord(
        id=f"{category}/{split}/{defect}/{image.stem}",
        path=str(image),
        kind="image",
        split=split,
        source="mvtec",
        category=category,
        label=0 if defect == NORMAL else 1,
        mask=None if mask is None else str(mask),
    )
