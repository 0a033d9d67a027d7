"""The manifest schema: records checked on creation, JSON Lines written atomically and read back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlad.data.manifest import (
    FIELDS,
    ManifestRecord,
    intervals_from_labels,
    merge_intervals,
    read_manifest,
    summarize,
    write_manifest,
)
from vlad.errors import InputError


def _video(**changes):
    values = dict(
        id="ped2/test/01",
        path="/d/ped2/testing/frames/01",
        kind="frames",
        split="test",
        source="ped2",
        fps=10.0,
        label=1,
        frames=6,
        intervals=((1, 3), (4, 6)),
    )
    values.update(changes)
    return ManifestRecord(**values)


def test_round_trip_keeps_every_field_in_schema_order(tmp_path):
    image = ManifestRecord(
        id="bottle/test/crack/000",
        path="/d/bottle/test/crack/000.png",
        kind="image",
        split="test",
        source="mvtec",
        category="bottle",
        label=1,
        mask="/d/bottle/ground_truth/crack/000_mask.png",
    )
    path = write_manifest(tmp_path / "m.jsonl", [image, _video()])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert list(json.loads(lines[0])) == list(FIELDS)
    assert json.loads(lines[1]) == {
        "id": "ped2/test/01",
        "path": "/d/ped2/testing/frames/01",
        "kind": "frames",
        "fps": 10.0,
        "split": "test",
        "category": "",
        "label": 1,
        "mask": None,
        "frames": 6,
        "intervals": [[1, 3], [4, 6]],
        "source": "ped2",
    }
    assert read_manifest(path) == [image, _video()]


def test_frame_labels_expand_the_intervals():
    assert _video().frame_labels().tolist() == [0, 1, 1, 0, 1, 1]
    with pytest.raises(InputError, match="has no frame count"):
        _video(frames=None).frame_labels()


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"kind": "clip"}, "The kind of ped2/test/01 is 'clip'; use one of image, video, frames."),
        (
            {"split": "val"},
            "The split of ped2/test/01 is 'val'; use one of train, validation, test.",
        ),
        ({"label": 2}, "The label of ped2/test/01 is 2; use 0, 1 or null."),
        ({"label": True}, "The label of ped2/test/01 is True; use 0, 1 or null."),
        ({"fps": 0}, "The fps of ped2/test/01 is 0; use a number > 0 or null."),
        ({"frames": 0}, "The frame count of ped2/test/01 is 0; use an integer >= 1."),
        ({"path": ""}, "The path of ped2/test/01 must be a non-empty string."),
        (
            {"intervals": ((3, 5), (1, 2))},
            "The intervals of ped2/test/01 must be sorted, disjoint [start, stop) frame pairs "
            "with start < stop, got [[3, 5], [1, 2]].",
        ),
        ({"intervals": ((2, 2),)}, "start < stop, got [[2, 2]]."),
        ({"intervals": ((4, 7),)}, "The interval [4, 7] of ped2/test/01 ends after its 6 frames."),
        ({"label": 0}, "ped2/test/01 is labelled normal but has anomalous intervals."),
    ],
)
def test_bad_record_is_one_sentence(changes, sentence):
    with pytest.raises(InputError) as error:
        _video(**changes)
    assert str(error.value).endswith(sentence)


def test_read_reports_the_line_that_breaks_the_schema(tmp_path):
    good = json.dumps(_video().to_json())
    path = tmp_path / "m.jsonl"
    path.write_text(good + "\n\n" + "{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"m.jsonl line 3 is not JSON"):
        read_manifest(path)
    path.write_text(good + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2 repeats the id ped2/test/01; ids must be unique"):
        read_manifest(path)
    record = _video().to_json()
    del record["fps"]
    record["extra"] = 1
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1 lacks the field\(s\) fps\."):
        read_manifest(path)
    record["fps"] = None
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1 has unknown field\(s\) extra"):
        read_manifest(path)
    record = _video().to_json()
    record["split"] = "dev"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"m.jsonl line 1: The split of ped2/test/01 is 'dev'"):
        read_manifest(path)
    with pytest.raises(InputError, match="There is no manifest file"):
        read_manifest(tmp_path / "none.jsonl")


def test_write_refuses_duplicate_ids_and_leaves_no_file(tmp_path):
    with pytest.raises(InputError, match="Two records have the id ped2/test/01"):
        write_manifest(tmp_path / "m.jsonl", [_video(), _video()])
    assert list(tmp_path.iterdir()) == []


def test_intervals_helpers():
    assert intervals_from_labels(np.array([1, 1, 0, 0, 1])) == ((0, 2), (4, 5))
    assert intervals_from_labels([0, 0]) == ()
    assert merge_intervals([(5, 8), (0, 2), (2, 3), (7, 9)]) == ((0, 3), (5, 9))


def test_summary_counts_splits_categories_and_shares():
    records = [
        _video(),
        _video(id="ped2/test/02", label=0, intervals=()),
        _video(id="ped2/train/01", split="train", label=None, intervals=(), category="x"),
    ]
    summary = summarize(records)
    assert summary.records == 3
    assert summary.by_split == {"test": 2, "train": 1}
    assert summary.by_category == {"": 2, "x": 1}
    assert (summary.anomalous, summary.labelled) == (1, 2)
    assert summary.anomalous_share == 0.5
    assert (summary.frames, summary.anomalous_frames) == (18, 4)
