"""VisA: object folders read through ``split_csv/1cls.csv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlad.data.manifest import ManifestRecord
from vlad.data.visa import read_visa
from vlad.errors import InputError

HEADER = "object,split,label,image,mask\n"
ROWS = (
    "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n"
    "candle,test,normal,candle/Data/Images/Normal/0001.JPG,\n"
    "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n"
    "pcb1,test,normal,pcb1/Data/Images/Normal/0000.JPG,\n"
)


def _image(path: Path, size=(8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((size[1], size[0]), dtype=np.uint8)
    Image.fromarray(array).save(path, format="PNG" if path.suffix == ".png" else "JPEG")


def make_visa(root: Path, rows: str = ROWS) -> Path:
    for rel in (
        "candle/Data/Images/Normal/0000.JPG",
        "candle/Data/Images/Normal/0001.JPG",
        "candle/Data/Images/Anomaly/000.JPG",
        "candle/Data/Masks/Anomaly/000.png",
        "pcb1/Data/Images/Normal/0000.JPG",
    ):
        _image(root / rel)
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    (root / "split_csv/1cls.csv").write_text(HEADER + rows, encoding="utf-8")
    return root


def _record(root, rel, category, split, label, mask=None):
    name = "anomaly" if label else "normal"
    return ManifestRecord(
        id=f"{category}/{split}/{name}/{Path(rel).stem}",
        path=str(root / rel),
        kind="image",
        split=split,
        source="visa",
        category=category,
        label=label,
        mask=None if mask is None else str(root / mask),
    )


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_visa(tmp_path / "VisA_20220922")
    assert read_visa(root) == [
        _record(root, "candle/Data/Images/Normal/0000.JPG", "candle", "train", 0),
        _record(root, "candle/Data/Images/Normal/0001.JPG", "candle", "test", 0),
        _record(
            root,
            "candle/Data/Images/Anomaly/000.JPG",
            "candle",
            "test",
            1,
            "candle/Data/Masks/Anomaly/000.png",
        ),
        _record(root, "pcb1/Data/Images/Normal/0000.JPG", "pcb1", "test", 0),
    ]
    assert [r.category for r in read_visa(root, categories=["pcb1"])] == ["pcb1"]


def test_unknown_object_is_one_sentence(tmp_path):
    root = make_visa(tmp_path / "v", ROWS + "pcb9,test,normal,pcb1/Data/Images/Normal/0000.JPG,\n")
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value).startswith(
        "1cls.csv line 6 names the object 'pcb9', which is not a VisA category; known: candle,"
    )


def test_mask_missing_or_of_the_wrong_size(tmp_path):
    root = make_visa(tmp_path / "v")
    mask = root / "candle/Data/Masks/Anomaly/000.png"
    _image(mask, (8, 7))
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value) == (
        f"The VisA mask {mask} is 7x8 but its image {root}/candle/Data/Images/Anomaly/000.JPG "
        "is 6x8 (height x width); they must match."
    )
    mask.unlink()
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value) == f"The VisA layout is incomplete: the mask {mask} is missing."
    root = make_visa(tmp_path / "w", ROWS.replace(",candle/Data/Masks/Anomaly/000.png", ","))
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value) == "1cls.csv line 4 gives the anomalous image 000.JPG no mask."


def test_bad_split_file(tmp_path):
    root = make_visa(tmp_path / "v", ROWS.replace("candle,train,normal", "candle,val,normal"))
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value) == (
        "1cls.csv line 2 has split 'val' and label 'normal'; splits are train or test, labels "
        "normal or anomaly."
    )
    (root / "split_csv/1cls.csv").write_text("object,split,image\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lacks the column\(s\) label, mask; its header is"):
        read_visa(root)
    (root / "split_csv/1cls.csv").unlink()
    with pytest.raises(InputError) as error:
        read_visa(root)
    assert str(error.value) == (
        f"The VisA layout is incomplete: the split file {root}/split_csv/1cls.csv is missing."
    )
