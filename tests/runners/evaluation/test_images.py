"""``evaluate_images`` end to end on a tiny MVTec AD replica with a tiny real CLIP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.runners.evaluation.replicas import HEIGHT, WIDTH, mvtec_manifest
from vlad.config import ClipConfig, PipelineConfig
from vlad.errors import ConfigError, InputError
from vlad.metrics import aupro, auroc, average_precision, f1_max, pixel_auroc
from vlad.runners.batch.local import BatchOptions
from vlad.runners.batch.store import ResultStore
from vlad.runners.evaluation import images as images_module
from vlad.runners.evaluation.images import class_name_of, evaluate_images, load_kept
from vlad.runners.evaluation.scoring import read_rows

SCHEMA_KEYS = {
    "vlad_eval", "task", "benchmark", "method", "settings", "versions", "started",
    "finished", "inputs", "scored", "failed", "pooling", "figures",
}  # fmt: skip
IMAGE_METRICS = {"image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro"}
MAP_SIZE = 32


@pytest.fixture
def config(tiny_arch, tiny_weights) -> PipelineConfig:
    return PipelineConfig(clip=ClipConfig(arch=tiny_arch, weights=str(tiny_weights), device="cpu"))


@pytest.fixture
def manifest(tmp_path) -> Path:
    return mvtec_manifest(tmp_path / "mvtec_anomaly_detection", tmp_path / "mvtec.jsonl")


def _run(manifest, out, config, encoder, **kwargs):
    options = BatchOptions(progress=False, workers=0, **kwargs.pop("options", {}))
    return evaluate_images(
        manifest, out, config=config, encoder=encoder, map_size=MAP_SIZE, options=options, **kwargs
    )


def test_figures_equal_the_metrics_on_the_kept_maps(manifest, tmp_path, config, tiny_encoder):
    out = tmp_path / "eval"
    run = _run(manifest, out, config, tiny_encoder)
    assert run.exit_status() == 0 and not run.interrupted
    data = json.loads((out / "results.json").read_text())
    assert set(data) == SCHEMA_KEYS
    assert (data["vlad_eval"], data["task"], data["benchmark"], data["method"]) == (
        1, "images", "mvtec", "winclip",
    )  # fmt: skip
    assert (data["inputs"], data["scored"], data["failed"]) == (4, 4, 0)  # test split only
    assert set(data["figures"]) == {"mean", "per_category"}
    # screw's test images are all good: no figure can be computed for it
    assert data["figures"]["per_category"] == {"bottle": data["figures"]["per_category"]["bottle"],
                                               "screw": {}}  # fmt: skip
    bottle = data["figures"]["per_category"]["bottle"]
    assert set(bottle) == IMAGE_METRICS

    rows, _ = read_rows(manifest, kinds=("image",), task="images")
    store = ResultStore(out)
    kept = [load_kept(store, row) for row in rows if row.record.category == "bottle"]
    labels = [row.record.label for row in rows if row.record.category == "bottle"]
    scores = [k[0] for k in kept]
    maps = np.stack([k[1] for k in kept])
    masks = np.stack([k[2] if k[2] is not None else np.zeros((MAP_SIZE,) * 2, bool) for k in kept])
    assert maps.shape == (3, MAP_SIZE, MAP_SIZE) and masks.any() and not masks.all()
    expected = {
        "image_auroc": auroc(labels, scores),
        "image_ap": average_precision(labels, scores),
        "image_f1_max": f1_max(labels, scores)[0],
        "pixel_auroc": pixel_auroc(masks, maps),
        "pixel_aupro": aupro(masks, maps),
    }
    assert bottle == pytest.approx(expected, abs=1e-6)
    assert data["figures"]["mean"] == pytest.approx(expected, abs=1e-6)  # one category counts
    # the kept mask is the defect square, shrunk to the map size
    mask = np.asarray(Image.open(out / "results" / rows[0].id / "mask.png")) > 0
    assert mask[-1, -1] and not mask[0, 0]
    record = json.loads((out / "results" / f"{rows[0].id}.json").read_text())
    assert record["eval"]["map"] == f"results/{rows[0].id}/map.npy"
    assert (record["eval"]["height"], record["eval"]["width"]) == (HEIGHT, WIDTH)
    assert record["scene"] == "bottle"  # the class name in the prompts: the category
    assert np.load(out / "results" / rows[0].id / "map.npy").dtype == np.float16

    with (out / "inputs.csv").open() as stream:
        table = list(csv.DictReader(stream))
    assert [r["manifest_id"] for r in table] == [row.record.id for row in rows]
    assert {r["status"] for r in table} == {"ok"}
    text = (out / "results.md").read_text()
    assert "| bottle |" in text and "**mean**" in text and "Pooling:" in text
    assert "screw: image figures left out" in text
    for name in ("roc.png", "pr.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_scores_nothing_twice_after_an_interruption(
    manifest, tmp_path, config, tiny_encoder, monkeypatch
):
    out = tmp_path / "eval"
    kept: list[str] = []
    keeper = images_module._keeper

    def counting(map_size):
        inner = keeper(map_size)

        def keep(row, explanation, folder):
            if len(kept) == 2 and stop:
                raise KeyboardInterrupt  # Ctrl-C while the third image is written
            kept.append(row.id)
            return inner(row, explanation, folder)

        return keep

    monkeypatch.setattr(images_module, "_keeper", counting)
    stop = True
    run = _run(manifest, out, config, tiny_encoder)
    assert run.interrupted and run.results is None and run.exit_status() == 2
    assert not (out / "results.json").exists()
    assert len(list((out / "results").glob("*.json"))) == 2
    assert not list((out / "results").glob(".*"))  # no half-written folder left

    stop = False
    again = _run(manifest, out, config, tiny_encoder)
    assert again.exit_status() == 0
    assert again.scoring.summary.skipped == 2 and again.scoring.summary.done == 2
    assert len(kept) == 4 and len(set(kept)) == 4  # every image kept once
    before = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    third = _run(manifest, out, config, tiny_encoder)
    assert third.scoring.summary.skipped == 4 and third.scoring.summary.done == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")} == before
    assert len(kept) == 4
    # a changed setting re-scores (the map size decides the kept maps)
    changed = evaluate_images(
        manifest, out, config=config, encoder=tiny_encoder, map_size=16,
        options=BatchOptions(progress=False, workers=0),
    )  # fmt: skip
    assert changed.scoring.summary.changed == 4
    assert np.load(next((out / "results").glob("*/map.npy"))).shape == (16, 16)


def _line(record: dict) -> str:
    return json.dumps(record) + "\n"


def test_bad_rows_are_recorded_with_their_sentence_and_the_run_goes_on(
    manifest, tmp_path, config, tiny_encoder
):
    first = json.loads(manifest.read_text().splitlines()[2])  # bottle/test/broken_large/000
    small = tmp_path / "small_mask.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(small)
    extra = [
        "{not json",
        _line({k: v for k, v in first.items() if k != "label"}).strip(),
        _line({**first, "id": "v/1", "kind": "video"}).strip(),
        _line({**first, "id": "gone", "path": str(tmp_path / "gone.png")}).strip(),
        _line({**first, "id": "unlabelled", "label": None}).strip(),
        _line({**first, "id": "nomask", "mask": str(tmp_path / "none.png")}).strip(),
        _line({**first, "id": "wrongmask", "mask": str(small)}).strip(),
        _line(first).strip(),  # the same id again
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(manifest.read_text() + "\n".join(extra) + "\n")
    out = tmp_path / "eval"
    run = _run(bad, out, config, tiny_encoder)
    assert run.exit_status() == 1
    assert (run.results.inputs, run.results.scored, run.results.failed) == (12, 4, 8)
    with (out / "inputs.csv").open() as stream:
        errors = {r["line"]: r["error"] for r in csv.DictReader(stream) if r["status"] != "ok"}
    n = len(manifest.read_text().splitlines())  # the bad lines follow the 7 good ones
    assert errors == {
        str(n + 1): f"bad.jsonl line {n + 1} is not JSON (Expecting property name enclosed in "
        "double quotes); fix or remove that line.",
        str(n + 2): f"bad.jsonl line {n + 2} lacks the field(s) label.",
        str(n + 3): f"bad.jsonl line {n + 3} (v/1) is of kind video, which 'vlad eval images' does "
        "not score; give a manifest of image records.",
        str(n + 4): f"File '{tmp_path / 'gone.png'}' does not exist; check the path.",
        str(n + 5): f"bad.jsonl line {n + 5} (unlabelled) has no label; an evaluation needs 0 "
        "or 1 for each image.",
        str(n + 6): f"The mask {tmp_path / 'none.png'} of nomask (bad.jsonl line {n + 6}) does "
        "not exist; fix the path.",
        str(n + 7): f"The mask {small} of wrongmask is 10x10 but its image is {HEIGHT}x{WIDTH} "
        "(height x width); they must match.",
        str(n + 8): f"bad.jsonl line {n + 8} repeats the id bottle/test/broken_large/000; ids "
        "must be unique.",
    }
    data = json.loads((out / "results.json").read_text())
    assert set(data["figures"]["per_category"]["bottle"]) == IMAGE_METRICS
    assert len((out / "errors.jsonl").read_text().splitlines()) == 8


def test_nothing_scored_exits_2_and_bad_settings_stop_before_work(tmp_path, config, tiny_encoder):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    run = _run(bad, tmp_path / "eval", config, tiny_encoder, split=None)
    assert run.exit_status() == 2 and run.results.scored == 0
    with pytest.raises(InputError, match=r"The manifest .* does not exist; write one with"):
        _run(tmp_path / "none.jsonl", tmp_path / "e2", config, tiny_encoder)
    with pytest.raises(ConfigError, match="map_size must be a whole number"):
        evaluate_images(bad, tmp_path / "e3", config=config, map_size=4)
    assert not (tmp_path / "e3").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="holds no row of split test"):
        _run(empty, tmp_path / "e4", config, tiny_encoder)


def test_class_names_from_categories():
    assert class_name_of("metal_nut") == "metal nut"
    assert class_name_of("pcb4") == "pcb"
    assert class_name_of("pipe_fryum") == "pipe fryum"
    assert class_name_of("") == "object"
