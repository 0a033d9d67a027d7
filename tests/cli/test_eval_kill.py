"""``vlad eval images`` and ``vlad eval captions --out`` killed with SIGKILL, then rerun.

Every input ends with exactly one whole result, nothing is listed twice, and the figures
equal those of a run that was never stopped. The subprocess helpers are the batch kill
test's (``tests/cli/test_batch.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cli.test_batch import REPO, _lines, _wait_for_results
from tests.conftest import make_image
from tests.runners.evaluation.replicas import HEIGHT, WIDTH, mvtec_replica
from tests.shared_data import ANOMALYRULER
from vlad.cli.main import main
from vlad.data.manifest import write_manifest
from vlad.data.mvtec import read_mvtec

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
COPIES = 4


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """The MVTec AD replica's 4 test images and COPIES - 1 new pictures beside each (16).

    Each picture is its own (no two score alike): the same image scored twice may differ in
    the last float32 bit with the batch it was scored in, which can reorder exact ties.
    """
    records = [r for r in read_mvtec(mvtec_replica(tmp_path / "mvtec")) if r.split == "test"]
    inputs = []
    for n in range(COPIES):
        for k, record in enumerate(records):
            path = Path(record.path)
            if n:
                path = path.with_name(f"{path.stem}-{n}.png")
                make_image(HEIGHT, WIDTH, seed=100 + 10 * n + k, defect=record.label == 1).save(
                    path
                )
            inputs.append(replace(record, id=f"{record.id}-{n}", path=str(path)))
    return write_manifest(tmp_path / "mvtec.jsonl", inputs)


def _images(clip_dir: Path, manifest: Path, out: Path) -> list[str]:
    return [
        "eval", "images", "--manifest", str(manifest), "--out", str(out),
        "--clip-weights", f"local-dir:{clip_dir}", "--no-progress", "--map-size", "32",
    ]  # fmt: skip


def _subprocess(argv: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "vlad.cli.main", *argv]
    return subprocess.Popen(command, cwd=REPO, env=ENV, stderr=subprocess.DEVNULL)


def _kill(process: subprocess.Popen) -> None:
    process.kill()  # SIGKILL: no clean-up at all
    process.wait()


@pytest.mark.slow
@pytest.mark.timeout(900)  # three interpreter starts with torch
def test_eval_images_killed_twice_then_rerun_equals_an_uninterrupted_run(
    clip_dir, manifest, tmp_path, capsys
):
    reference = tmp_path / "reference"
    assert main(_images(clip_dir, manifest, reference)) == 0
    out = tmp_path / "killed"
    for stop_at in (2, 6):
        process = _subprocess(_images(clip_dir, manifest, out))
        _wait_for_results(out, stop_at, process, limit=300)  # OUT/results/*.json
        _kill(process)
        for path in (out / "results").glob("*.json"):
            json.loads(path.read_text())  # never a half-written record under a final name
    kept = len(list((out / "results").glob("*.json")))
    assert 2 <= kept < 16  # the kills landed mid-run
    capsys.readouterr()
    assert main(_images(clip_dir, manifest, out)) == 0
    err = capsys.readouterr().err
    assert (
        f"vlad: 16 of 16 input(s) scored, 0 failed ({16 - kept} scored now, {kept} already" in err
    )

    expected = sorted(json.loads(line)["id"] for line in manifest.read_text().splitlines())
    records = [json.loads(p.read_text()) for p in sorted((out / "results").glob("*.json"))]
    assert sorted(r["manifest_id"] for r in records) == expected  # one per input, none twice
    assert all(r["status"] == "ok" for r in records)
    index = [line["id"] for line in _lines(out / "index.jsonl")]
    assert sorted(index) == sorted(r["id"] for r in records) and len(set(index)) == len(index)
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]
    figures = json.loads((out / "results.json").read_text())["figures"]
    assert figures == json.loads((reference / "results.json").read_text())["figures"]


def _captions(root: Path, dataset: str, out: Path) -> list[str]:
    return [
        "eval", "captions", "--root", str(root), "--dataset", dataset, "--out", str(out),
        "--no-progress", "--json",
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not ANOMALYRULER.is_dir(), reason="shared AnomalyRuler captions not present")
def test_eval_captions_killed_then_rerun_equals_an_uninterrupted_run(tmp_path, capsys):
    assert main(_captions(ANOMALYRULER, "ped2", tmp_path / "reference.jsonl")) == 0
    reference = json.loads(capsys.readouterr().out)
    out = tmp_path / "killed.jsonl"
    parts = tmp_path / "killed.jsonl.parts"
    process = _subprocess(_captions(ANOMALYRULER, "ped2", out))
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if parts.is_dir() and any(parts.glob("*.json")):  # the first video is kept
            break
        time.sleep(0.01)  # the videos are kept about 80 ms apart
    _kill(process)
    kept = sorted(parts.glob("*.json"))
    assert 1 <= len(kept) < 12  # the kill landed mid-run
    for path in kept:
        json.loads(path.read_text())  # each kept video whole
    assert main(_captions(ANOMALYRULER, "ped2", out)) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["resumed_videos"] == len(kept)
    assert sorted(p.name for p in parts.glob("*.json")) == [
        f"test_{n:02d}.json" for n in range(1, 13)
    ]
    assert (figures["auc"], figures["ap"]) == (reference["auc"], reference["ap"])
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(frames) == figures["frames"] == reference["frames"]
    assert len({(f["video"], f["frame"]) for f in frames}) == len(frames)
