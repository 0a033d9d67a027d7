"""ShanghaiTech Campus: test frame folders with ``test_frame_mask/*.npy`` frame labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlad.data.manifest import ManifestRecord
from vlad.data.shanghaitech import read_shanghaitech
from vlad.errors import InputError


def make_shanghaitech(root: Path) -> Path:
    """Two training videos and two test videos (01_0014 with frames 2-3 and 5 anomalous)."""
    (root / "training/videos").mkdir(parents=True)
    for name in ("01_001.avi", "02_001.avi"):
        (root / "training/videos" / name).write_bytes(b"")
    masks = root / "testing/test_frame_mask"
    masks.mkdir(parents=True)
    for name, labels in (("01_0014", [0, 0, 1, 1, 0, 1]), ("12_0148", [0, 0, 0, 0])):
        folder = root / "testing/frames" / name
        folder.mkdir(parents=True)
        for index in range(len(labels)):
            (folder / f"{index:03d}.jpg").write_bytes(b"")
        np.save(masks / f"{name}.npy", np.asarray(labels, dtype=np.int64))
    return root


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_shanghaitech(tmp_path / "shanghaitech")
    train = [
        ManifestRecord(
            id=f"shanghaitech/train/{stem}",
            path=str(root / "training/videos" / f"{stem}.avi"),
            kind="video",
            split="train",
            source="shanghaitech",
            category=stem[:2],
            label=0,
        )
        for stem in ("01_001", "02_001")
    ]
    test = [
        ManifestRecord(
            id="shanghaitech/test/01_0014",
            path=str(root / "testing/frames/01_0014"),
            kind="frames",
            split="test",
            source="shanghaitech",
            category="01",
            label=1,
            frames=6,
            intervals=((2, 4), (5, 6)),
        ),
        ManifestRecord(
            id="shanghaitech/test/12_0148",
            path=str(root / "testing/frames/12_0148"),
            kind="frames",
            split="test",
            source="shanghaitech",
            category="12",
            label=0,
            frames=4,
        ),
    ]
    assert read_shanghaitech(root) == train + test


def test_missing_labels_is_one_sentence(tmp_path):
    root = make_shanghaitech(tmp_path / "s")
    (root / "testing/test_frame_mask/12_0148.npy").unlink()
    with pytest.raises(InputError) as error:
        read_shanghaitech(root)
    assert str(error.value) == (
        f"The ShanghaiTech Campus layout is incomplete: the frame labels "
        f"{root}/testing/test_frame_mask/12_0148.npy is missing."
    )


def test_frame_count_mismatch_is_one_sentence(tmp_path):
    root = make_shanghaitech(tmp_path / "s")
    (root / "testing/frames/01_0014/005.jpg").unlink()
    with pytest.raises(InputError) as error:
        read_shanghaitech(root)
    assert str(error.value) == (
        f"The ShanghaiTech Campus frame mask {root}/testing/test_frame_mask/01_0014.npy has 6 "
        "labels but its frame folder has 5 frames; they must match."
    )


def test_bad_label_files(tmp_path):
    root = make_shanghaitech(tmp_path / "s")
    mask = root / "testing/test_frame_mask/01_0014.npy"
    np.save(mask, np.array([0, 2, 0, 0, 0, 0]))
    with pytest.raises(InputError, match=r"01_0014.npy must be a 1-D array of 0/1 labels"):
        read_shanghaitech(root)
    np.save(mask, np.zeros((6, 2)))
    with pytest.raises(InputError, match="must be a 1-D array"):
        read_shanghaitech(root)
    mask.write_bytes(b"junk")
    with pytest.raises(InputError, match=r"01_0014.npy is not a readable .npy array"):
        read_shanghaitech(root)


def test_missing_label_folder(tmp_path):
    root = make_shanghaitech(tmp_path / "s")
    for path in (root / "testing/test_frame_mask").iterdir():
        path.unlink()
    (root / "testing/test_frame_mask").rmdir()
    with pytest.raises(InputError) as error:
        read_shanghaitech(root)
    assert str(error.value) == (
        f"The ShanghaiTech Campus layout is incomplete: the frame-label folder "
        f"{root}/testing/test_frame_mask is missing."
    )
