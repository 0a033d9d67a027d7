"""MVTec AD: a replica of the published layout read into the expected manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlad.data.manifest import ManifestRecord
from vlad.data.mvtec import read_mvtec
from vlad.errors import InputError


def _png(path: Path, size: tuple[int, int] = (8, 6)) -> None:
    """An image of PIL size (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0]), dtype=np.uint8)).save(path)


def make_mvtec(root: Path) -> Path:
    """Two categories in the layout of the download (bottle, screw), with the licence file."""
    (root).mkdir(parents=True, exist_ok=True)
    (root / "license.txt").write_text("CC BY-NC-SA 4.0\n", encoding="utf-8")
    for name in ("000.png", "001.png"):
        _png(root / "bottle/train/good" / name)
        _png(root / "bottle/test/broken_large" / name)
        _png(root / "bottle/ground_truth/broken_large" / name.replace(".png", "_mask.png"))
    _png(root / "bottle/test/good/000.png")
    _png(root / "screw/train/good/000.png", (5, 5))
    _png(root / "screw/test/good/000.png", (5, 5))
    return root


def _image(root: Path, rel: str, category: str, split: str, label: int, mask=None):
    parts = rel.split("/")
    return ManifestRecord(
        id=f"{category}/{split}/{parts[-2]}/{Path(parts[-1]).stem}",
        path=str(root / rel),
        kind="image",
        split=split,
        source="mvtec",
        category=category,
        label=label,
        mask=None if mask is None else str(root / mask),
    )


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_mvtec(tmp_path / "mvtec_anomaly_detection")
    assert read_mvtec(root) == [
        _image(root, "bottle/train/good/000.png", "bottle", "train", 0),
        _image(root, "bottle/train/good/001.png", "bottle", "train", 0),
        _image(
            root,
            "bottle/test/broken_large/000.png",
            "bottle",
            "test",
            1,
            "bottle/ground_truth/broken_large/000_mask.png",
        ),
        _image(
            root,
            "bottle/test/broken_large/001.png",
            "bottle",
            "test",
            1,
            "bottle/ground_truth/broken_large/001_mask.png",
        ),
        _image(root, "bottle/test/good/000.png", "bottle", "test", 0),
        _image(root, "screw/train/good/000.png", "screw", "train", 0),
        _image(root, "screw/test/good/000.png", "screw", "test", 0),
    ]
    assert [r.id for r in read_mvtec(root, categories=["screw"])] == [
        "screw/train/good/000",
        "screw/test/good/000",
    ]


def test_missing_mask_is_one_sentence(tmp_path):
    root = make_mvtec(tmp_path / "m")
    mask = root / "bottle/ground_truth/broken_large/001_mask.png"
    mask.unlink()
    with pytest.raises(InputError) as error:
        read_mvtec(root)
    assert str(error.value) == f"The MVTec AD layout is incomplete: the mask {mask} is missing."


def test_mask_of_the_wrong_size_is_one_sentence(tmp_path):
    root = make_mvtec(tmp_path / "m")
    mask = root / "bottle/ground_truth/broken_large/000_mask.png"
    _png(mask, (6, 8))  # transposed: PIL (W, H) against numpy (H, W)
    image = root / "bottle/test/broken_large/000.png"
    with pytest.raises(InputError) as error:
        read_mvtec(root)
    assert str(error.value) == (
        f"The MVTec AD mask {mask} is 8x6 but its image {image} is 6x8 (height x width); "
        "they must match."
    )


def test_unknown_category_folder_and_request(tmp_path):
    root = make_mvtec(tmp_path / "m")
    with pytest.raises(InputError) as error:
        read_mvtec(root, categories=["bottles"])
    assert str(error.value).startswith(
        "categories names 'bottles', which is not one of the MVTec AD categories: bottle, cable,"
    )
    assert error.value.param == "categories"
    _png(root / "widget/test/good/000.png")
    with pytest.raises(InputError, match=r"The MVTec AD folder .*widget is not a known category"):
        read_mvtec(root)


def test_incomplete_layouts(tmp_path):
    with pytest.raises(InputError, match="holds no category folder"):
        read_mvtec(tmp_path)
    root = make_mvtec(tmp_path / "m")
    for path in sorted((root / "screw/train/good").iterdir()):
        path.unlink()
    (root / "screw/train/good").rmdir()
    with pytest.raises(InputError) as error:
        read_mvtec(root)
    assert str(error.value) == (
        f"The MVTec AD layout is incomplete: the training folder {root}/screw/train/good is "
        "missing."
    )
    with pytest.raises(InputError, match="is not a folder") as error:
        read_mvtec(tmp_path / "nowhere")
    assert error.value.param == "root"
