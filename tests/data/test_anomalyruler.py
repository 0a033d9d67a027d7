"""AnomalyRuler's caption layout as a manifest source (the sample set shipped in datasets/)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vlad.data.anomalyruler import read_anomalyruler, read_caption_manifest
from vlad.data.captions import load_caption_dataset, read_caption_video
from vlad.data.manifest import ManifestRecord, write_manifest
from vlad.errors import ConfigError, InputError

SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples" / "captions"


def test_shipped_caption_sample_reads_into_the_expected_manifest():
    assert read_anomalyruler(SAMPLES, dataset="walkway") == [
        ManifestRecord(
            id="anomalyruler/walkway/test_01",
            path=str(SAMPLES / "walkway/test/01"),
            kind="frames",
            split="test",
            source="anomalyruler",
            category="walkway",
            label=1,
            frames=20,
            intervals=((10, 20),),
        ),
        ManifestRecord(
            id="anomalyruler/walkway/test_02",
            path=str(SAMPLES / "walkway/test/02"),
            kind="frames",
            split="test",
            source="anomalyruler",
            category="walkway",
            label=0,
            frames=16,
        ),
    ]


def test_missing_dataset_and_missing_captions(tmp_path):
    with pytest.raises(ConfigError, match="dataset is needed") as error:
        read_anomalyruler(SAMPLES)
    assert error.value.param == "dataset"
    (tmp_path / "ped2/test_frame").mkdir(parents=True)
    (tmp_path / "ped2/test_frame/test_01.csv").write_text(
        "image_path,label\nped2/test/01/000.jpg,0\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="The captions of test_01 are missing"):
        read_anomalyruler(tmp_path, dataset="ped2")


# ------------------------------------------------------------- the manifest read back


def _prepared(tmp_path: Path, records: list[ManifestRecord] | None = None) -> Path:
    path = tmp_path / "walkway.jsonl"
    write_manifest(
        path, records if records is not None else read_anomalyruler(SAMPLES, dataset="walkway")
    )
    return path


def test_a_caption_manifest_reads_back_the_caption_dataset(tmp_path):
    manifest = read_caption_manifest(_prepared(tmp_path))
    assert manifest.root == SAMPLES.resolve() and manifest.dataset == "walkway"
    expected = load_caption_dataset(SAMPLES, "walkway")
    videos = manifest.captions.videos
    assert [v.name for v in videos] == [v.name for v in expected] == ["test_01", "test_02"]
    for got, want in zip(videos, expected, strict=True):
        assert got.captions == want.captions and np.array_equal(got.labels, want.labels)
    assert manifest.captions.skipped == ()


def _copy_samples(tmp_path: Path) -> Path:
    root = tmp_path / "captions"
    shutil.copytree(SAMPLES, root)
    return root


def test_manifests_that_are_not_one_caption_dataset_are_one_sentence(tmp_path):
    records = read_anomalyruler(SAMPLES, dataset="walkway")
    image = ManifestRecord(
        id="bottle/test/good/000", path="/data/bottle/000.png", kind="image", split="test",
        source="mvtec", category="bottle", label=0,
    )  # fmt: skip
    path = _prepared(tmp_path, [records[0], image])
    with pytest.raises(InputError) as error:
        read_caption_manifest(path)
    assert str(error.value) == (
        f"The manifest {path} holds a record of 'mvtec' (bottle/test/good/000), not of "
        "AnomalyRuler's captions; write one with 'vlad data prepare anomalyruler --root ROOT "
        "--dataset NAME'."
    )
    assert error.value.param == "manifest"
    other = replace(records[1], id="anomalyruler/ped2/test_02", category="ped2")
    path = _prepared(tmp_path, [records[0], other])
    with pytest.raises(InputError) as error:
        read_caption_manifest(path)
    assert str(error.value) == (
        f"The manifest {path} mixes the caption datasets walkway and ped2; evaluate one dataset "
        "at a time."
    )
    copy = _copy_samples(tmp_path)
    moved = replace(records[1], path=str(copy / "walkway/test/02"))
    path = _prepared(tmp_path, [records[0], moved])
    with pytest.raises(InputError, match=r"mixes the dataset folders .* evaluate one dataset"):
        read_caption_manifest(path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match=r"^The manifest .*empty.jsonl holds no record\.$"):
        read_caption_manifest(empty)


def test_rows_whose_files_are_missing_or_changed_are_one_sentence(tmp_path):
    root = _copy_samples(tmp_path)
    path = tmp_path / "walkway.jsonl"
    write_manifest(path, read_anomalyruler(root, dataset="walkway"))
    folder = root.resolve() / "walkway"
    (folder / "test_frame_description/test_02.txt").unlink()
    with pytest.raises(InputError) as error:
        read_caption_manifest(path)
    assert str(error.value) == (
        "The captions of test_02 are missing: expected "
        f"{folder / 'test_frame_description/test_02.txt'}."
    )
    (folder / "test_frame/test_02.csv").unlink()
    with pytest.raises(InputError) as error:
        read_caption_manifest(path)
    assert str(error.value) == (
        f"The labels of record anomalyruler/walkway/test_02 are missing: no folder at or above "
        f"{folder / 'test/02'} holds walkway/test_frame/test_02.csv."
    )
    labels = folder / "test_frame/test_01.csv"
    labels.write_text(labels.read_text().replace(",1\n", ",0\n"))
    with pytest.raises(InputError) as error:
        read_caption_manifest(path)
    assert str(error.value) == (
        "The frame labels of record anomalyruler/walkway/test_01 differ from those of its files "
        f"in {folder}; prepare the manifest again."
    )


def test_read_caption_video_names_the_missing_label_file(tmp_path):
    with pytest.raises(InputError) as error:
        read_caption_video(SAMPLES, "walkway", "test_09")
    assert str(error.value) == (
        f"The labels of test_09 are missing: expected {SAMPLES / 'walkway/test_frame/test_09.csv'}."
    )
    video = read_caption_video(SAMPLES, "walkway", "test_02")
    assert video.name == "test_02" and len(video.captions) == len(video.labels) == 16
