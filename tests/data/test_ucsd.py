"""UCSD Ped2 and CUHK Avenue: frame folders with the ``gt`` cell array of their ``.mat`` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vlad.data.manifest import ManifestRecord
from vlad.data.ucsd import read_avenue, read_ped2
from vlad.errors import InputError


def _frames(folder: Path, count: int, suffix: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    width = 4 if suffix == ".jpg" and count > 999 else 3
    for index in range(count):
        (folder / f"{index:0{width}d}{suffix}").write_bytes(b"")


def _save_gt(path: Path, events: list[list[list[int]]]) -> None:
    """Write ``gt`` as MATLAB writes it: a 1xN cell array of 2xK double matrices."""
    cells = np.empty((1, len(events)), dtype=object)
    for index, columns in enumerate(events):
        cells[0, index] = np.asarray(columns, dtype=np.float64).T.reshape(2, -1)
    scipy.io.savemat(str(path), {"gt": cells})


def make_ped2(root: Path) -> Path:
    """Two training and three test videos; test 01 has frames 3-6, test 03 two events."""
    _frames(root / "training/frames/01", 4)
    _frames(root / "training/frames/02", 5)
    _frames(root / "testing/frames/01", 8)
    _frames(root / "testing/frames/02", 6)
    _frames(root / "testing/frames/03", 10)
    # [first, last] per event, 1-based inclusive; video 02 has one event covering frame 1
    _save_gt(root / "ped2.mat", [[[3, 6]], [[1, 1]], [[2, 3], [7, 10]]])
    return root


def _video(root: Path, split: str, name: str, frames: int, intervals=(), source="ped2", fps=10.0):
    folder = "training" if split == "train" else "testing"
    return ManifestRecord(
        id=f"{source}/{split}/{name}",
        path=str(root / folder / "frames" / name),
        kind="frames",
        split=split,
        source=source,
        fps=fps,
        label=1 if intervals else 0,
        frames=frames,
        intervals=tuple(intervals),
    )


def test_ped2_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_ped2(tmp_path / "ped2")
    records = read_ped2(root)
    assert records == [
        _video(root, "train", "01", 4),
        _video(root, "train", "02", 5),
        _video(root, "test", "01", 8, [(2, 6)]),
        _video(root, "test", "02", 6, [(0, 1)]),
        _video(root, "test", "03", 10, [(1, 3), (6, 10)]),
    ]
    assert records[2].frame_labels().tolist() == [0, 0, 1, 1, 1, 1, 0, 0]


def test_avenue_reads_avenue_mat_at_25_fps(tmp_path):
    root = tmp_path / "avenue"
    _frames(root / "testing/frames/01", 5, ".png")
    _frames(root / "testing/frames/02", 4, ".png")
    _save_gt(root / "avenue.mat", [[[2, 2], [4, 5]], []])
    assert read_avenue(root) == [
        _video(root, "test", "01", 5, [(1, 2), (3, 5)], source="avenue", fps=25.0),
        _video(root, "test", "02", 4, source="avenue", fps=25.0),
    ]


def test_missing_ground_truth_is_one_sentence(tmp_path):
    root = make_ped2(tmp_path / "ped2")
    (root / "ped2.mat").unlink()
    with pytest.raises(InputError) as error:
        read_ped2(root)
    assert str(error.value) == (
        f"The UCSD Ped2 layout is incomplete: the ground truth {root}/ped2.mat is missing."
    )


def test_frame_count_mismatch_is_one_sentence(tmp_path):
    root = make_ped2(tmp_path / "ped2")
    for frame in sorted((root / "testing/frames/03").iterdir())[8:]:
        frame.unlink()
    with pytest.raises(InputError) as error:
        read_ped2(root)
    assert str(error.value) == (
        "The UCSD Ped2 ground truth marks frame 10 of video 03, which has 8 frames; the frame "
        "folder or ped2.mat is incomplete."
    )


def test_video_count_mismatch_and_bad_cells(tmp_path):
    root = make_ped2(tmp_path / "ped2")
    _frames(root / "testing/frames/04", 3)
    with pytest.raises(InputError) as error:
        read_ped2(root)
    assert str(error.value) == (
        f"The UCSD Ped2 ground truth {root}/ped2.mat describes 3 videos but the test folder "
        "holds 4; they must match."
    )
    _save_gt(root / "ped2.mat", [[[3, 6]], [[1, 1]], [[2, 3]], [[0, 2]]])
    with pytest.raises(InputError, match=r"Cell 4 of the UCSD Ped2 ground truth .* frame numbers"):
        read_ped2(root)
    _save_gt(root / "ped2.mat", [[[3, 6]], [[1, 1]], [[2, 3]], [[3, 2]]])
    with pytest.raises(InputError, match=r"Cell 4 .* has an event ending before it starts"):
        read_ped2(root)
    scipy.io.savemat(str(root / "ped2.mat"), {"labels": np.zeros(3)})
    with pytest.raises(InputError, match=r"ped2.mat has no 'gt' variable"):
        read_ped2(root)
    (root / "ped2.mat").write_bytes(b"not a mat file")
    with pytest.raises(InputError, match=r"ped2.mat is not a readable .mat file"):
        read_ped2(root)


def test_empty_frame_folder_and_missing_test_folder(tmp_path):
    root = make_ped2(tmp_path / "ped2")
    for frame in (root / "testing/frames/02").iterdir():
        frame.unlink()
    with pytest.raises(InputError) as error:
        read_ped2(root)
    assert str(error.value) == (
        f"The UCSD Ped2 frame folder {root}/testing/frames/02 holds no frame images."
    )
    with pytest.raises(InputError) as error:
        read_ped2(tmp_path)
    assert str(error.value) == (
        f"The UCSD Ped2 layout is incomplete: the test frame folder {tmp_path}/testing/frames "
        "is missing."
    )
