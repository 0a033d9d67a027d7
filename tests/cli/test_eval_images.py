"""``vlad eval images`` as a user runs it: a prepared MVTec AD replica and a tiny CLIP folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.runners.evaluation.replicas import mvtec_replica
from vlad.cli.main import main


@pytest.fixture
def manifest(tmp_path, capsys) -> Path:
    root = mvtec_replica(tmp_path / "mvtec_anomaly_detection")
    path = tmp_path / "mvtec.jsonl"
    assert main(["data", "prepare", "mvtec", "--root", str(root), "--out", str(path)]) == 0
    capsys.readouterr()
    return path


def _eval(clip_dir: Path, manifest: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "eval", "images", "--manifest", str(manifest), "--out", str(out),
            "--clip-weights", f"local-dir:{clip_dir}", "--no-progress", "--workers", "0",
            "--map-size", "32", *extra,
        ]
    )  # fmt: skip


def test_json_figures_files_run_record_and_resume(clip_dir, manifest, tmp_path, capsys):
    out = tmp_path / "eval"
    assert _eval(clip_dir, manifest, out, "--json") == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert set(printed) == {"task", "benchmark", "method", "figures"}
    assert (printed["task"], printed["benchmark"], printed["method"]) == (
        "images", "mvtec", "winclip",
    )  # fmt: skip
    saved = json.loads((out / "results.json").read_text())
    assert printed["figures"] == saved["figures"]
    assert set(saved["figures"]["mean"]) == {
        "image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro",
    }  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in saved["figures"]["mean"].values())
    assert "vlad: 4 of 4 input(s) scored, 0 failed" in captured.err
    for name in ("results.md", "inputs.csv", "roc.png", "pr.png", "run.yaml", "index.jsonl"):
        assert (out / name).is_file(), name
    assert yaml.safe_load((out / "run.yaml").read_text())["settings"]["map_size"] == 32

    assert _eval(clip_dir, manifest, out) == 0  # resumed: nothing scored again
    captured = capsys.readouterr()
    assert "(0 scored now, 4 already done)" in captured.err
    assert "| bottle |" in captured.out and "**mean**" in captured.out


def test_exit_1_with_a_bad_row_and_2_when_nothing_runs(clip_dir, manifest, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(manifest.read_text() + "{not json\n")
    assert _eval(clip_dir, bad, tmp_path / "one") == 1
    assert "4 of 5 input(s) scored, 1 failed" in capsys.readouterr().err
    only_bad = tmp_path / "only_bad.jsonl"
    only_bad.write_text("{not json\n")
    assert _eval(clip_dir, only_bad, tmp_path / "two", "--split", "all") == 2
    assert "0 of 1 input(s) scored, 1 failed" in capsys.readouterr().err


def test_outputs_and_manifest_refused_before_any_work(clip_dir, manifest, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    assert _eval(clip_dir, manifest, a_file) == 2
    assert f"--out '{a_file}' is a file, not a folder; choose another folder." in (
        capsys.readouterr().err
    )
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert _eval(clip_dir, manifest, foreign) == 2
    assert "is not a vlad batch folder; choose an empty or new folder." in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    assert _eval(clip_dir, tmp_path / "none.jsonl", tmp_path / "e") == 2
    err = capsys.readouterr().err
    assert err == (
        f"vlad: The --manifest {tmp_path / 'none.jsonl'} does not exist; write one with "
        "'vlad data prepare'.\n"
    )


def test_config_file_sets_the_options(clip_dir, manifest, tmp_path, capsys):
    config = tmp_path / "eval.yaml"
    config.write_text("map-size: 16\nclass-name: a bottle\n")
    out = tmp_path / "eval"
    assert _eval(clip_dir, manifest, out, "--config", str(config), "--json") == 0
    capsys.readouterr()
    saved = json.loads((out / "results.json").read_text())
    assert saved["settings"]["class_name"] == "a bottle"
    assert saved["settings"]["map_size"] == 32  # the flag given overrides the file
