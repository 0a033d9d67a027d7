"""Training samples: record choice with its sentences, image and mask tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.scoring.learned.synthetic import make_synthetic_mvtec
from vlad.data.manifest import ManifestRecord
from vlad.data.mvtec import read_mvtec
from vlad.errors import InputError
from vlad.scoring.learned.dataset import (
    OPENAI_MEAN,
    OPENAI_STD,
    SegmentationDataset,
    training_records,
)


def _record(tmp_path: Path, name: str, label, mask: str | None = None, split="test"):
    return ManifestRecord(
        id=name,
        path=str(tmp_path / f"{name}.png"),
        kind="image",
        split=split,
        source="test",
        label=label,
        mask=mask,
    )


def test_the_synthetic_mvtec_layout_is_read_and_filtered_to_the_test_split(tmp_path):
    root = make_synthetic_mvtec(tmp_path / "syn", per_defect=2, train_good=3, test_good=2)
    records = read_mvtec(root)
    assert len(records) == 2 * (3 + 2 + 2 * 2)
    chosen = training_records(records)
    assert {r.split for r in chosen} == {"test"}
    assert len(chosen) == 2 * (2 + 2 * 2)
    assert sum(r.label for r in chosen) == 8
    assert len(training_records(records, splits=None)) == len(records)


def test_records_that_cannot_train_are_skipped_with_a_sentence(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    Image.new("L", (8, 8), 255).save(tmp_path / "mask.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "bad.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    records = [
        _record(tmp_path, "ok", 0),
        _record(tmp_path, "bad", 1, mask=str(tmp_path / "mask.png")),
        _record(tmp_path, "nolabel", None),
        _record(tmp_path, "nomask", 1),
        _record(tmp_path, "junk", 0),
    ]
    skipped: list[str] = []
    kept = training_records(records, skipped=skipped)
    assert [r.id for r in kept] == ["ok", "bad"]
    assert skipped == [
        "nolabel has no label; it is skipped.",
        "The anomalous image nomask has no mask; it is skipped.",
        "junk: its image or mask cannot be read; it is skipped.",
    ]


def test_data_without_anomalies_or_usable_images_is_refused(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    with pytest.raises(InputError, match="no anomalous image with a mask") as caught:
        training_records([_record(tmp_path, "ok", 0)])
    assert caught.value.param == "data"
    with pytest.raises(InputError, match="no usable labelled image in the split"):
        training_records([_record(tmp_path, "ok", 0, split="train")])


def test_items_are_normalised_images_nearest_masks_and_labels(tmp_path):
    # a 12 (H) x 20 (W) image: left half white, right half black; the mask marks the top row band
    pixels = np.zeros((12, 20, 3), dtype=np.uint8)
    pixels[:, :10] = 255
    Image.fromarray(pixels).save(tmp_path / "a.png")
    mask = np.zeros((12, 20), dtype=np.uint8)
    mask[:3, :] = 128
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    Image.fromarray(pixels).save(tmp_path / "b.png")
    records = [
        _record(tmp_path, "a", 1, mask=str(tmp_path / "a_mask.png")),
        _record(tmp_path, "b", 0),
    ]
    dataset = SegmentationDataset(records, image_size=8)
    assert len(dataset) == 2
    item = dataset[0]
    assert item["image"].shape == (3, 8, 8) and item["image"].dtype == torch.float32
    white = (1.0 - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)
    black = -torch.tensor(OPENAI_MEAN) / torch.tensor(OPENAI_STD)
    assert torch.allclose(item["image"][:, 4, 0], white, atol=1e-4)
    assert torch.allclose(item["image"][:, 4, 7], black, atol=1e-4)
    assert item["mask"].shape == (8, 8)
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["mask"][:2].all() and not item["mask"][2:].any()
    assert item["label"].item() == 1 and item["index"] == 0
    normal = dataset[1]
    assert normal["label"].item() == 0 and not normal["mask"].any()
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert batch["image"].shape == (2, 3, 8, 8) and batch["mask"].shape == (2, 8, 8)


def test_custom_normalisation_and_bad_inputs(tmp_path):
    Image.fromarray(np.full((4, 4, 3), 255, np.uint8)).save(tmp_path / "w.png")
    dataset = SegmentationDataset(
        [_record(tmp_path, "w", 0)], image_size=4, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
    )
    assert torch.allclose(dataset[0]["image"], torch.ones(3, 4, 4))
    with pytest.raises(InputError, match="image_size must be >= 1"):
        SegmentationDataset([], image_size=0)
    with pytest.raises(InputError, match="filter the records with training_records first"):
        SegmentationDataset([_record(tmp_path, "w", 1)], image_size=4)
    (tmp_path / "w.png").write_bytes(b"gone")
    with pytest.raises(InputError, match="cannot be read"):
        dataset[0]
