"""XD-Violence: labels in the file names, test intervals in ``annotations.txt``."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.data.manifest import ManifestRecord
from vlad.data.xd_violence import labels_of, read_xd_violence
from vlad.errors import InputError

SHOOT = "Bad.Boys.1995__#01-11-55_01-12-40_label_G-B2-B6"
FIGHT = "Brother.2000__#00-33-52_00-34-56_label_B1-0-0"
QUIET = "A.Beautiful.Mind.2001__#00-25-20_00-29-20_label_A"
TRAIN = "Bullet.in.the.Head.1990__#00-00-00_00-01-41_label_B2-0-0"
LINES = f"{SHOOT} 27 123 204 323\n{FIGHT} 0 95\n"


def make_xd(root: Path, lines: str = LINES) -> Path:
    for rel in (f"videos/{SHOOT}.mp4", f"videos/{FIGHT}.mp4", f"videos/{QUIET}.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (root / "Train/1-1004").mkdir(parents=True)
    (root / f"Train/1-1004/{TRAIN}.mp4").write_bytes(b"")
    (root / "annotations.txt").write_text(lines, encoding="utf-8")
    return root


def _video(path: Path, split: str, category: str, intervals=()):
    return ManifestRecord(
        id=f"xd_violence/{split}/{path.stem}",
        path=str(path),
        kind="video",
        split=split,
        source="xd_violence",
        category=category,
        fps=24.0,
        label=0 if category == "Normal" else 1,
        intervals=tuple(intervals),
    )


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_xd(tmp_path / "XD-Violence")
    assert read_xd_violence(root) == [
        _video(root / f"Train/1-1004/{TRAIN}.mp4", "train", "Shooting"),
        _video(root / f"videos/{QUIET}.mp4", "test", "Normal"),
        _video(
            root / f"videos/{SHOOT}.mp4",
            "test",
            "Explosion+Shooting+Car accident",
            [(27, 124), (204, 324)],
        ),
        _video(root / f"videos/{FIGHT}.mp4", "test", "Fighting", [(0, 96)]),
    ]


def test_labels_from_names():
    assert labels_of(f"{SHOOT}.mp4") == ("Explosion", "Shooting", "Car accident")
    assert labels_of(FIGHT) == ("Fighting",)
    assert labels_of(f"{QUIET}.mp4") == ("Normal",)
    with pytest.raises(InputError, match="has the unknown label code 'B3'; codes are A, B1"):
        labels_of("x_label_B3-0-0.mp4")
    with pytest.raises(InputError, match="has no '_label_' part in its name"):
        labels_of("clip.mp4")
    with pytest.raises(InputError, match="is labelled both normal \\(A\\) and anomalous"):
        labels_of("x_label_A-B1.mp4")


def test_anomalous_test_video_without_ground_truth_is_one_sentence(tmp_path):
    root = make_xd(tmp_path / "x", f"{SHOOT} 27 123 204 323\n")
    with pytest.raises(InputError) as error:
        read_xd_violence(root)
    assert str(error.value) == (
        f"The XD-Violence layout is incomplete: the anomalous test video {FIGHT}.mp4 has no "
        "line in annotations.txt."
    )


def test_annotated_video_missing_or_normal(tmp_path):
    root = make_xd(tmp_path / "x", LINES + "Gone.2010__#00-00-00_00-01-00_label_B1-0-0 3 9\n")
    with pytest.raises(InputError) as error:
        read_xd_violence(root)
    assert str(error.value) == (
        "The XD-Violence layout is incomplete: the test video "
        f"Gone.2010__#00-00-00_00-01-00_label_B1-0-0 of annotations.txt is not under {root}."
    )
    root = make_xd(tmp_path / "y", LINES + f"{QUIET}.mp4 3 9\n")
    with pytest.raises(InputError, match=f"annotations.txt gives events to {QUIET}.mp4, which"):
        read_xd_violence(root)


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        (
            f"{FIGHT} 0 95 120",
            "annotations.txt line 1 has 3 frame numbers; give start and end pairs.",
        ),
        (f"{FIGHT}", "annotations.txt line 1 has 0 frame numbers; give start and end pairs."),
        (f"{FIGHT} 0 x", "annotations.txt line 1 has a frame number that is not an integer."),
        (f"{FIGHT} 95 0", "annotations.txt line 1 has the event 95 0; give 0 <= start <= end."),
        (f"{FIGHT} 0 5\n{FIGHT}.mp4 7 9", f"annotations.txt line 2 repeats the video {FIGHT}."),
    ],
)
def test_malformed_annotation_lines(tmp_path, line, sentence):
    root = make_xd(tmp_path / "x", line + "\n")
    with pytest.raises(InputError) as error:
        read_xd_violence(root)
    assert str(error.value) == sentence


def test_missing_annotation_file(tmp_path):
    root = make_xd(tmp_path / "x")
    (root / "annotations.txt").unlink()
    with pytest.raises(InputError) as error:
        read_xd_violence(root)
    assert str(error.value) == (
        f"The XD-Violence layout is incomplete: the test annotation {root}/annotations.txt is "
        "missing."
    )
