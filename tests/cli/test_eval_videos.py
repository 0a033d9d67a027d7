"""``vlad eval videos`` as a user runs it: a prepared UCSD Ped2 replica and a tiny CLIP folder."""

from __future__ import annotations

import json

from tests.runners.evaluation.replicas import ped2_replica
from vlad.cli.main import main


def test_ped2_frame_folders_json_files_and_resume(clip_dir, tmp_path, capsys):
    root = ped2_replica(tmp_path / "ped2")
    manifest = tmp_path / "ped2.jsonl"
    assert main(["data", "prepare", "ped2", "--root", str(root), "--out", str(manifest)]) == 0
    capsys.readouterr()
    out = tmp_path / "eval"
    command = [
        "eval", "videos", "--manifest", str(manifest), "--out", str(out),
        "--clip-weights", f"local-dir:{clip_dir}", "--no-progress", "--workers", "0",
        "--fps", "5", "--define", "a person running",
    ]  # fmt: skip
    assert main([*command, "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert (printed["task"], printed["benchmark"], printed["method"]) == (
        "videos", "ped2", "definitions",
    )  # fmt: skip
    assert set(printed["figures"]["mean"]) == {"frame_auc", "frame_ap", "frame_auc_per_video_mean"}
    saved = json.loads((out / "results.json").read_text())
    assert saved["figures"] == printed["figures"] and saved["inputs"] == 3
    assert saved["settings"]["pipeline"]["video"]["definitions"] == ["a person running"]
    assert saved["settings"]["frames_fps"] == ["10.0"]  # Ped2's own rate, from the manifest
    for name in ("results.md", "inputs.csv", "roc.png", "pr.png", "run.yaml"):
        assert (out / name).is_file(), name
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "(0 scored now, 3 already done)" in captured.err
    assert "| **all frames** |" in captured.out


def test_vlm_without_rules_is_refused(clip_dir, tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    status = main(
        ["eval", "videos", "--manifest", str(manifest), "--out", str(tmp_path / "o"),
         "--vlm", "offline"]
    )  # fmt: skip
    assert status == 2
    assert "--vlm describes the frames that rules cite; add --rules FILE." in (
        capsys.readouterr().err
    )
