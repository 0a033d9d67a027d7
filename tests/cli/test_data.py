"""``vlad data prepare`` and ``vlad data info`` on benchmark replicas."""

from __future__ import annotations

import json

from tests.data.test_mvtec import make_mvtec
from tests.data.test_ucsd import make_ped2
from vlad.cli.main import EXIT_UNUSABLE, main
from vlad.data.manifest import read_manifest
from vlad.data.ucsd import read_ped2


def test_prepare_writes_the_manifest_a_summary_and_a_run_record(tmp_path, capsys):
    root = make_ped2(tmp_path / "ped2")
    out = tmp_path / "out" / "ped2.jsonl"
    assert main(["data", "prepare", "ped2", "--root", str(root), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out}: 5 ped2 records",
        "splits      test 3, train 2",
        "categories  - 5",
        "anomalous   3 of 5 labelled (60.0%)",
        "frames      33, 11 anomalous (33.3%)",
    ]
    assert read_manifest(out) == read_ped2(root)
    assert (tmp_path / "out" / "ped2.run.yaml").is_file()


def test_prepare_json_summary_counts_categories(tmp_path, capsys):
    root = make_mvtec(tmp_path / "mvtec")
    out = tmp_path / "m.jsonl"
    argv = ["data", "prepare", "mvtec", "--root", str(root), "--out", str(out), "--json"]
    assert main([*argv, "--category", "bottle"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures == {
        "benchmark": "mvtec",
        "manifest": str(out),
        "records": 5,
        "splits": {"test": 3, "train": 2},
        "categories": {"bottle": 5},
        "anomalous": 2,
        "labelled": 5,
        "anomalous_share": 0.4,
        "frames": 0,
        "anomalous_frames": 0,
    }


def test_incomplete_layout_is_one_sentence_with_status_2_and_no_manifest(tmp_path, capsys):
    root = make_ped2(tmp_path / "ped2")
    (root / "ped2.mat").unlink()
    out = tmp_path / "m.jsonl"
    assert main(["data", "prepare", "ped2", "--root", str(root), "--out", str(out)]) == (
        EXIT_UNUSABLE
    )
    captured = capsys.readouterr()
    assert captured.err == (
        f"vlad: The UCSD Ped2 layout is incomplete: the ground truth {root}/ped2.mat is missing.\n"
    )
    assert captured.out == ""
    assert not out.exists()


def test_flags_are_named_in_errors(tmp_path, capsys):
    out = str(tmp_path / "m.jsonl")
    argv = ["data", "prepare", "ped2", "--root", str(tmp_path / "none"), "--out", out]
    assert main(argv) == EXIT_UNUSABLE
    assert capsys.readouterr().err == (
        f"vlad: --root {tmp_path}/none is not a folder; give the folder holding UCSD Ped2.\n"
    )
    argv = ["data", "prepare", "ped2", "--root", str(tmp_path), "--out", out]
    assert main([*argv, "--category", "bottle"]) == EXIT_UNUSABLE
    assert capsys.readouterr().err == (
        "vlad: --category does not apply to UCSD Ped2, which takes no options.\n"
    )


def test_info_lists_every_benchmark_and_describes_one(capsys):
    assert main(["data", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 9
    assert lines[0] == "mvtec         MVTec AD: CC BY-NC-SA 4.0 (non-commercial)"
    assert main(["data", "info", "visa"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "VisA (visa)",
        "get it      https://github.com/amazon-science/spot-diff",
        "licence     CC BY 4.0",
        "layout      OBJECT/Data/Images/{Normal,Anomaly}/*.JPG, OBJECT/Data/Masks/Anomaly/*.png, "
        "split_csv/1cls.csv (object,split,label,image,mask)",
        "options     categories, split_file",
    ]
