"""UBnormal: scene folders of videos, tracks files of anomalous objects, the repo's split lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.data.manifest import ManifestRecord
from vlad.data.ubnormal import read_ubnormal
from vlad.errors import InputError

LISTS = {
    "abnormal_training": ["abnormal_scene_2_scenario_3"],
    "normal_training": ["normal_scene_2_scenario_1"],
    "abnormal_validation": [],
    "normal_validation": ["normal_scene_3_scenario_2"],
    "abnormal_test": ["abnormal_scene_12_scenario_1_fog"],
    "normal_test": [],
}
# object_id,first_frame,last_frame (0-based, last included); two objects overlap
TRACKS = {
    "abnormal_scene_2_scenario_3": "3,10,20\n",
    "abnormal_scene_12_scenario_1_fog": "1,40,49\n2,45,60\n7,100,100\n",
}


def make_ubnormal(root: Path) -> Path:
    (root / "scripts").mkdir(parents=True)
    for name, videos in LISTS.items():
        text = "\n".join(videos)
        (root / "scripts" / f"{name}_video_names.txt").write_text(text, encoding="utf-8")
        for video in videos:
            scene = root / f"Scene{video.split('_')[2]}"
            scene.mkdir(exist_ok=True)
            (scene / f"{video}.mp4").write_bytes(b"")
            if video in TRACKS:
                notes = scene / f"{video}_annotations"
                notes.mkdir()
                (notes / f"{video}_tracks.txt").write_text(TRACKS[video], encoding="utf-8")
    return root


def _video(root: Path, split: str, video: str, intervals=()):
    scene = video.split("_")[2]
    return ManifestRecord(
        id=f"ubnormal/{split}/{video}",
        path=str(root / f"Scene{scene}" / f"{video}.mp4"),
        kind="video",
        split=split,
        source="ubnormal",
        category=f"scene{scene}",
        fps=30.0,
        label=1 if video.startswith("abnormal") else 0,
        intervals=tuple(intervals),
    )


def test_replica_reads_into_the_expected_manifest(tmp_path):
    root = make_ubnormal(tmp_path / "UBnormal")
    assert read_ubnormal(root) == [
        _video(root, "train", "abnormal_scene_2_scenario_3", [(10, 21)]),
        _video(root, "train", "normal_scene_2_scenario_1"),
        _video(root, "validation", "normal_scene_3_scenario_2"),
        _video(root, "test", "abnormal_scene_12_scenario_1_fog", [(40, 61), (100, 101)]),
    ]


def test_missing_tracks_list_and_video_are_one_sentence(tmp_path):
    root = make_ubnormal(tmp_path / "u")
    tracks = root / "Scene12/abnormal_scene_12_scenario_1_fog_annotations"
    (tracks / "abnormal_scene_12_scenario_1_fog_tracks.txt").unlink()
    with pytest.raises(InputError) as error:
        read_ubnormal(root)
    assert str(error.value) == (
        f"The UBnormal layout is incomplete: the tracks file {tracks}/"
        "abnormal_scene_12_scenario_1_fog_tracks.txt is missing."
    )
    (root / "Scene3/normal_scene_3_scenario_2.mp4").unlink()
    with pytest.raises(InputError, match=r"the video .*normal_scene_3_scenario_2\.mp4 is missing"):
        read_ubnormal(root)
    (root / "Scene3/normal_scene_3_scenario_2.mp4").write_bytes(b"")
    (root / "scripts/normal_training_video_names.txt").unlink()
    with pytest.raises(
        InputError, match=r"the split list .*normal_training_video_names\.txt is missing"
    ):
        read_ubnormal(tmp_path / "u", split_dir="scripts")


def test_malformed_tracks_line(tmp_path):
    root = make_ubnormal(tmp_path / "u")
    path = (
        root
        / "Scene2/abnormal_scene_2_scenario_3_annotations/abnormal_scene_2_scenario_3_tracks.txt"
    )
    path.write_text("3,20,10\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_ubnormal(root)
    assert str(error.value) == (
        "abnormal_scene_2_scenario_3_tracks.txt line 1 is '3,20,10'; a line is "
        "'object_id,first_frame,last_frame' with first <= last."
    )
