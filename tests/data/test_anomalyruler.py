"""AnomalyRuler's caption layout as a manifest source (the sample set shipped in datasets/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.data.anomalyruler import read_anomalyruler
from vlad.data.manifest import ManifestRecord
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
