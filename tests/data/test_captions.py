"""The AnomalyRuler caption-dataset reader: records, alignment and one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlad.data.captions import (
    CAPTION_DIR,
    LABEL_DIR,
    RULES_FILE,
    CaptionVideo,
    dataset_rules_file,
    load_caption_dataset,
)
from vlad.errors import InputError


def write(root: Path, videos: dict[str, tuple[list[str], list[str]]], rules: bool = False) -> Path:
    folder = root / "toy"
    (folder / LABEL_DIR).mkdir(parents=True)
    (folder / CAPTION_DIR).mkdir()
    for name, (captions, labels) in videos.items():
        rows = ["image_path,label"] + [f"{name}/{i}.jpg,{y}" for i, y in enumerate(labels)]
        (folder / LABEL_DIR / f"{name}.csv").write_text("\n".join(rows) + "\n")
        (folder / CAPTION_DIR / f"{name}.txt").write_text("\n".join(captions))
    if rules:
        (folder / RULES_FILE).write_text("**Anomaly Human Activities:**\n1. Running\n")
    return root


def test_videos_in_name_order_with_labels_aligned_on_the_shorter_file(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"test_02": (["a", "b"], ["0", "1"]), "test_01": (["x", "y"], ["1", "0", "0"])},
    )
    videos = load_caption_dataset(root, "toy")
    assert [v.name for v in videos] == ["test_01", "test_02"]
    assert isinstance(videos[0], CaptionVideo)
    # One caption fewer than labels: the last label is dropped.
    assert videos[0].captions == ("x", "y")
    assert videos[0].labels.tolist() == [1, 0] and videos[0].labels.dtype == np.int8
    assert videos[1].labels.tolist() == [0, 1]
    assert dataset_rules_file(root, "toy") is None
    write(tmp_path / "r", {"t": (["a"], ["0"])}, rules=True)
    assert dataset_rules_file(tmp_path / "r", "toy") == tmp_path / "r" / "toy" / RULES_FILE


@pytest.mark.parametrize(
    ("videos", "message"),
    [
        ({"t": (["a"] * 5, ["0"] * 8)}, r"has 5 captions but .* has 8 labels"),
        ({"t": ([], ["0"])}, r"is empty; it needs one per frame\.$"),
        ({"t": (["a"], ["2"])}, r"^Line 2 of .*t\.csv has label '2'; labels are 0 or 1\.$"),
        ({"t": (["a"], [])}, r"has no rows; it needs one row per frame\.$"),
    ],
)
def test_bad_files_are_one_sentence(tmp_path: Path, videos: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_caption_dataset(write(tmp_path, videos), "toy")


def test_missing_folders_name_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"^There is no dataset folder .*nope; give a root"
    ) as info:
        load_caption_dataset(tmp_path, "nope")
    assert info.value.param == "root"
    (tmp_path / "bare").mkdir()
    with pytest.raises(InputError, match=r"has no 'test_frame' folder of label CSV files\.$"):
        load_caption_dataset(tmp_path, "bare")
    root = write(tmp_path / "x", {"t": (["a"], ["0"])})
    (root / "toy" / CAPTION_DIR / "t.txt").unlink()
    with pytest.raises(InputError, match=r"^The captions of t are missing: expected .*t\.txt\.$"):
        load_caption_dataset(root, "toy")
    (root / "toy" / LABEL_DIR / "t.csv").write_text("path,score\nx,0\n")
    (root / "toy" / CAPTION_DIR / "t.txt").write_text("a")
    with pytest.raises(InputError, match=r"has no 'label' column; it needs the header"):
        load_caption_dataset(root, "toy")


def test_a_video_without_its_caption_file_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from vlad.data.captions import CaptionDataset, read_caption_dataset

    root = write(tmp_path, {"test_01": (["a"], ["0"]), "test_02": (["b"], ["1"])})
    missing = root / "toy" / CAPTION_DIR / "test_01.txt"
    missing.unlink()
    with caplog.at_level("WARNING", logger="vlad"):
        dataset = read_caption_dataset(root, "toy")
    assert isinstance(dataset, CaptionDataset)
    assert [v.name for v in dataset.videos] == ["test_02"]
    assert dataset.skipped == ("test_01",)
    assert [r.getMessage() for r in caplog.records] == [
        f"Skipping video test_01 of dataset 'toy': its caption file {missing} is missing."
    ]
    with pytest.raises(InputError, match="The captions of test_01 are missing"):
        load_caption_dataset(root, "toy")  # the strict reader still refuses it


def test_a_dataset_with_no_caption_file_at_all_is_one_sentence(tmp_path: Path) -> None:
    from vlad.data.captions import read_caption_dataset

    root = write(tmp_path, {"test_01": (["a"], ["0"])})
    (root / "toy" / CAPTION_DIR / "test_01.txt").unlink()
    with pytest.raises(InputError) as exc:
        read_caption_dataset(root, "toy")
    assert str(exc.value) == (
        f"No video of dataset 'toy' has a caption file in {root / 'toy' / CAPTION_DIR}; "
        "caption the frames first (one .txt per video)."
    )
