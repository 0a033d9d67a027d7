"""A plain image folder with optional masks: records, and one sentence per file skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlad.data.folder import read_folder
from vlad.errors import InputError


def _png(path: Path, size: tuple[int, int] = (8, 6), value: int = 0) -> Path:
    """An image of PIL size (width, height), every pixel ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0]), value, dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.zeros((size[1], size[0]), dtype=np.uint8)
    values[1:3, 2:5] = 255
    Image.fromarray(values).save(path)
    return path


def test_good_and_defect_folders_with_masks_become_labelled_records(tmp_path):
    root = tmp_path / "widgets"
    _png(root / "good/a.png")
    _png(root / "normal/b.png")
    _png(root / "crack/c.png")
    _mask(root / "masks/crack/c.png")
    _png(root / "dent/d.png")
    _mask(root / "masks/dent/d_mask.png")
    records = read_folder(root)
    found = {(r.id, r.label, Path(r.mask).name if r.mask else None) for r in records}
    assert found == {
        ("widgets/train/good/a", 0, None),
        ("widgets/train/normal/b", 0, None),
        ("widgets/train/crack/c", 1, "c.png"),
        ("widgets/train/dent/d", 1, "d_mask.png"),
    }
    assert {r.source for r in records} == {"folder"}
    assert all(Path(r.path).is_absolute() and r.kind == "image" for r in records)


def test_loose_images_are_anomalous_when_their_mask_marks_a_pixel(tmp_path):
    root = tmp_path / "plain"
    _png(root / "1.png")
    _png(root / "2.png")
    _mask(root / "masks/2.png")
    _png(root / "3.png")
    _png(root / "masks/3.png")  # an all-black mask: nothing anomalous
    records = read_folder(root, category="parts", split="test")
    assert [(r.id, r.label, r.mask is not None) for r in records] == [
        ("parts/test/./1", 0, False),
        ("parts/test/./2", 1, True),
        ("parts/test/./3", 0, False),
    ]


def test_unusable_files_are_skipped_with_one_sentence_each(tmp_path, caplog):
    root = tmp_path / "mixed"
    _png(root / "good/ok.png")
    (root / "good/broken.png").write_bytes(b"not a png")
    _png(root / "scratch/nomask.png")
    _png(root / "scratch/badsize.png")
    _mask(root / "masks/scratch/badsize.png", size=(4, 4))
    _png(root / "scratch/badmask.png")
    (root / "masks/scratch").mkdir(parents=True, exist_ok=True)
    (root / "masks/scratch/badmask.png").write_bytes(b"junk")
    (root / "empty").mkdir()
    skipped: list[str] = []
    with caplog.at_level(logging.WARNING, logger="vlad.data.folder"):
        records = read_folder(root, skipped=skipped)
    assert [r.id for r in records] == ["mixed/train/good/ok"]
    assert len(skipped) == 5
    text = "\n".join(skipped)
    assert f"The image {root / 'good/broken.png'} cannot be read; it is skipped." in text
    assert f"The anomalous image {root / 'scratch/nomask.png'} has no mask" in text
    assert "is 4x4 but its image" in text and "is 6x8 (height x width)" in text
    assert f"The mask {root / 'masks/scratch/badmask.png'} cannot be read" in text
    assert f"The folder {root / 'empty'} holds no image; it is skipped." in text
    assert all(s.count(".") >= 1 and "\n" not in s for s in skipped)
    assert len(caplog.records) == 5


def test_without_required_masks_an_anomalous_image_keeps_no_mask(tmp_path):
    root = tmp_path / "nomasks"
    _png(root / "scratch/x.png")
    records = read_folder(root, require_masks=False)
    assert [(r.label, r.mask) for r in records] == [(1, None)]


def test_a_folder_with_nothing_usable_is_refused(tmp_path):
    root = tmp_path / "bare"
    _png(root / "scratch/x.png")  # anomalous without mask: skipped
    with pytest.raises(InputError, match="holds no usable image") as caught:
        read_folder(root)
    assert caught.value.param == "root"
    with pytest.raises(InputError, match="is not a folder") as caught:
        read_folder(tmp_path / "missing")
    assert caught.value.param == "root"
