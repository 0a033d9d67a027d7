"""``evaluate_videos`` end to end on a tiny UCSD Ped2 replica (frame folders) with a tiny CLIP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.runners.evaluation.replicas import HEIGHT, WIDTH, ped2_manifest
from tests.videos import moving_square_frames, write_video
from vlad.config import ClipConfig, PipelineConfig, VideoConfig
from vlad.metrics import auroc, average_precision, frame_ap, frame_auc
from vlad.runners.batch.local import BatchOptions
from vlad.runners.batch.store import ResultStore
from vlad.runners.evaluation import scoring
from vlad.runners.evaluation.scoring import read_rows
from vlad.runners.evaluation.videos import evaluate_videos, frame_scores, video_method

SCHEMA_KEYS = {
    "vlad_eval", "task", "benchmark", "method", "settings", "versions", "started",
    "finished", "inputs", "scored", "failed", "pooling", "figures",
}  # fmt: skip


@pytest.fixture
def config(tiny_arch, tiny_weights) -> PipelineConfig:
    return PipelineConfig(
        clip=ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="cpu"),
        video=VideoConfig(sample_fps=5.0, smoothing_sigma_s=0.0),
    )


@pytest.fixture
def manifest(tmp_path) -> Path:
    return ped2_manifest(tmp_path / "ped2", tmp_path / "ped2.jsonl")


def _run(manifest, out, config, encoder, **kwargs):
    return evaluate_videos(
        manifest,
        out,
        config=config,
        encoder=encoder,
        options=BatchOptions(progress=False, workers=0),
        **kwargs,
    )


def test_pooled_and_per_video_figures_equal_the_metrics_on_the_kept_scores(
    manifest, tmp_path, config, tiny_encoder
):
    out = tmp_path / "eval"
    run = _run(manifest, out, config, tiny_encoder)
    assert run.exit_status() == 0
    data = json.loads((out / "results.json").read_text())
    assert set(data) == SCHEMA_KEYS
    assert (data["task"], data["benchmark"], data["method"]) == ("videos", "ped2", "definitions")
    assert (data["inputs"], data["scored"], data["failed"]) == (3, 3, 0)
    assert "concatenated" in data["pooling"] and "frame_ap" in data["pooling"]

    rows, _ = read_rows(manifest, kinds=("video", "frames"), task="videos")
    store = ResultStore(out)
    labels, scores, aucs = [], [], []
    for row in rows:
        kept = store.load(row.id)["eval"]
        # Ped2 is at 10 fps, sampled at 5: every other frame is scored
        assert kept["frame_indices"] == list(range(0, row.record.frames, 2))
        assert kept["frames"] == row.record.frames
        values = frame_scores(kept)
        np.testing.assert_allclose(
            values,
            np.interp(np.arange(row.record.frames), kept["frame_indices"], kept["scores"]),
        )
        labels.append(row.record.frame_labels())
        scores.append(values)
        aucs.append(auroc(labels[-1], values))
    assert [int(x.sum()) for x in labels] == [4, 1, 6]  # from ped2.mat
    expected = {
        "frame_auc": frame_auc(labels, scores),
        "frame_ap": frame_ap(labels, scores),
        "frame_auc_per_video_mean": float(np.mean(aucs)),
    }
    assert data["figures"]["mean"] == pytest.approx(expected, abs=1e-6)
    assert data["figures"]["per_category"] == {
        "all": pytest.approx({k: expected[k] for k in ("frame_auc", "frame_ap")}, abs=1e-6)
    }
    with (out / "inputs.csv").open() as stream:
        table = list(csv.DictReader(stream))
    assert [r["manifest_id"] for r in table] == ["ped2/test/01", "ped2/test/02", "ped2/test/03"]
    assert [int(r["frames"]) for r in table] == [8, 6, 10]
    assert [float(r["frame_ap"]) for r in table] == pytest.approx(
        [average_precision(lab, sco) for lab, sco in zip(labels, scores, strict=True)], abs=1e-6
    )
    assert "| **all frames** |" in (out / "results.md").read_text()
    assert (out / "roc.png").is_file() and (out / "pr.png").is_file()


def test_interrupted_run_resumes_without_scoring_twice(
    manifest, tmp_path, config, tiny_encoder, monkeypatch
):
    out = tmp_path / "eval"
    stored: list[str] = []
    real = scoring._store_one

    def store_one(row, *args):
        if len(stored) == 1 and stop:
            raise KeyboardInterrupt
        stored.append(row.id)
        return real(row, *args)

    monkeypatch.setattr(scoring, "_store_one", store_one)
    stop = True
    run = _run(manifest, out, config, tiny_encoder)
    assert run.interrupted and run.exit_status() == 2 and not (out / "results.json").exists()
    stop = False
    again = _run(manifest, out, config, tiny_encoder)
    assert again.exit_status() == 0 and again.scoring.summary.skipped == 1
    assert len(stored) == 3 and len(set(stored)) == 3
    assert _run(manifest, out, config, tiny_encoder).scoring.summary.skipped == 3
    assert len(stored) == 3


@pytest.mark.slow  # a video written with ffmpeg and 4 inputs scored: ~12 s on a busy CPU
def test_videos_bad_rows_and_frames_fps(manifest, tmp_path, config, tiny_encoder):
    video = write_video(tmp_path / "walk.mp4", moving_square_frames(20, HEIGHT, WIDTH), fps=10)
    good = json.loads(manifest.read_text().splitlines()[2])  # ped2/test/01
    extra = [
        {**good, "id": "clip", "path": str(video), "kind": "video", "frames": None,
         "intervals": [[5, 12]]},
        {**good, "id": "nofps", "fps": None},
        {**good, "id": "gone", "path": str(tmp_path / "gone")},
        {**good, "id": "img", "kind": "image", "frames": None, "intervals": [], "label": 0},
        {**good, "id": "long", "path": str(video), "kind": "video", "frames": None,
         "intervals": [[5, 40]]},
    ]  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text(manifest.read_text() + "".join(json.dumps(r) + "\n" for r in extra))
    out = tmp_path / "eval"
    run = _run(bad, out, config, tiny_encoder)
    assert run.exit_status() == 1
    assert (run.results.inputs, run.results.scored, run.results.failed) == (8, 4, 4)
    with (out / "inputs.csv").open() as stream:
        table = {r["manifest_id"] or r["line"]: r for r in csv.DictReader(stream)}
    assert table["clip"]["status"] == "ok" and table["clip"]["frames"] == "20"
    assert table["clip"]["anomalous_frames"] == "7"
    n = len(manifest.read_text().splitlines())  # the extra lines follow the 5 good ones
    assert table["nofps"]["error"] == (
        f"The frame folder nofps (line {n + 2}) has no fps in the manifest; give frames_fps."
    )
    assert table["gone"]["error"] == f"File '{tmp_path / 'gone'}' does not exist; check the path."
    assert table["img"]["error"] == (
        f"bad.jsonl line {n + 4} (img) is of kind image, which 'vlad eval videos' does not "
        "score; give a manifest of video or frames records."
    )
    assert table["long"]["error"] == (
        "The anomalous frames of long end at frame 40 but the video has 20 frames; check its "
        "manifest record."
    )
    # the frame rate given for records without one: only that folder is scored now
    again = _run(bad, out, config, tiny_encoder, frames_fps=10.0)
    assert again.results.failed == 3 and again.scoring.summary.done == 1


def test_method_names():
    assert video_method(rules=None, memory=None) == "definitions"
    assert video_method(rules="r.yaml", memory=None) == "rules"
    assert video_method(rules=None, memory="mem") == "memory"


def test_rows_that_cannot_run_fail_with_their_sentence_before_any_model(tmp_path, config):
    folder = tmp_path / "frames"
    folder.mkdir()
    base = {
        "id": "f", "path": str(folder), "kind": "frames", "fps": None, "split": "test",
        "category": "", "label": 1, "mask": None, "frames": 8, "intervals": [[2, 4]],
        "source": "ped2",
    }  # fmt: skip
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps(base) + "\n"
        + json.dumps({**base, "id": "i", "kind": "image", "frames": None, "intervals": []})
        + "\n{not json\n"
        + json.dumps({**base, "id": "t", "split": "train"}) + "\n"  # not evaluated
    )  # fmt: skip
    run = evaluate_videos(
        manifest, tmp_path / "eval", config=config, options=BatchOptions(progress=False)
    )
    assert run.exit_status() == 2 and run.scoring.encoder is None  # no CLIP was loaded
    assert (run.results.inputs, run.results.scored) == (3, 0)
    assert [r["error"] for r in run.results.rows] == [
        "The frame folder f (line 1) has no fps in the manifest; give frames_fps.",
        "m.jsonl line 2 (i) is of kind image, which 'vlad eval videos' does not score; give a "
        "manifest of video or frames records.",
        "m.jsonl line 3 is not JSON (Expecting property name enclosed in double quotes); fix "
        "or remove that line.",
    ]
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["figures"] == {
        "mean": {}, "per_category": {},
    }  # fmt: skip
