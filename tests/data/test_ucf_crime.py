"""UCF-Crime: class folders of videos and ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt``."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.data.manifest import ManifestRecord
from vlad.data.ucf_crime import ANNOTATION, read_ucf_crime
from vlad.errors import InputError

# The annotation file's own format: two spaces between fields, -1 -1 for no second event.
LINES = (
    "Abuse028_x264.mp4  Abuse  165  240  -1  -1\n"
    "Arson011_x264.mp4  Arson  150  420  680  1267\n"
    "Normal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n"
)


def make_ucf_crime(root: Path, lines: str = LINES) -> Path:
    for rel in (
        "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4",
        "Anomaly-Videos-Part-1/Arson/Arson011_x264.mp4",
        "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4",
        "Training-Normal-Videos-Part-1/Normal_Videos001_x264.mp4",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (root / ANNOTATION).write_text(lines, encoding="utf-8")
    return root


def _video(root: Path, rel: str, category: str, intervals=()):
    return ManifestRecord(
        id=f"ucf_crime/test/{Path(rel).stem}",
        path=str(root / rel),
        kind="video",
        split="test",
        source="ucf_crime",
        category=category,
        fps=30.0,
        label=0 if category == "Normal" else 1,
        intervals=tuple(intervals),
    )


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_ucf_crime(tmp_path / "UCF_Crimes")
    assert read_ucf_crime(root) == [
        _video(root, "Anomaly-Videos-Part-1/Abuse/Abuse028_x264.mp4", "Abuse", [(165, 241)]),
        _video(
            root,
            "Anomaly-Videos-Part-1/Arson/Arson011_x264.mp4",
            "Arson",
            [(150, 421), (680, 1268)],
        ),
        _video(root, "Testing_Normal_Videos_Anomaly/Normal_Videos_003_x264.mp4", "Normal"),
    ]


def test_missing_annotation_is_one_sentence(tmp_path):
    root = make_ucf_crime(tmp_path / "u")
    (root / ANNOTATION).unlink()
    with pytest.raises(InputError) as error:
        read_ucf_crime(root)
    assert str(error.value) == (
        f"The UCF-Crime layout is incomplete: {ANNOTATION} is not under {root}."
    )


def test_missing_video_is_one_sentence(tmp_path):
    root = make_ucf_crime(tmp_path / "u")
    (root / "Anomaly-Videos-Part-1/Arson/Arson011_x264.mp4").unlink()
    with pytest.raises(InputError) as error:
        read_ucf_crime(root)
    assert str(error.value) == (
        f"The UCF-Crime layout is incomplete: the video Arson011_x264.mp4 of {ANNOTATION} line "
        f"2 is not under {root}."
    )


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        (
            "Abuse028_x264.mp4  Abuse  165  240  -1",
            "line 1 has 5 fields; a line is 'VIDEO CLASS START END START END'.",
        ),
        ("Abuse028_x264.mp4  Abuse  165  x  -1  -1", "line 1 has a frame number that is not an"),
        (
            "Abuse028_x264.mp4  Abuse  240  165  -1  -1",
            "line 1 has the event 240 165; give start <= end, or -1 -1 for none.",
        ),
        ("Abuse028_x264.mp4  Abuse  -1  165  -1  -1", "line 1 has the event -1 165;"),
        ("Normal_Videos_003_x264.mp4  Normal  3  9  -1  -1", "line 1 gives events to a Normal"),
    ],
)
def test_malformed_lines_are_one_sentence(tmp_path, line, sentence):
    root = make_ucf_crime(tmp_path / "u", line + "\n")
    with pytest.raises(InputError) as error:
        read_ucf_crime(root)
    assert f"{ANNOTATION} {sentence}" in str(error.value)
