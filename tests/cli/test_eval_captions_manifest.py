"""``vlad eval captions --manifest``: the manifest of ``vlad data prepare anomalyruler``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.shared_data import ANOMALYRULER
from vlad.cli.main import main

SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples" / "captions"


def _prepare(root: Path, dataset: str, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    argv = ["data", "prepare", "anomalyruler", "--root", str(root), "--dataset", dataset]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def _figures(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["eval", "captions", *argv, "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def _same_figures(by_root: dict, by_manifest: dict) -> None:
    assert by_manifest["auc"] == by_root["auc"]  # exactly
    assert by_manifest["ap"] == by_root["ap"]
    for key in ("dataset", "frames", "videos", "rule_count", "method", "accuracy"):
        assert by_manifest[key] == by_root[key], key


def test_manifest_gives_the_same_figures_as_root_and_dataset(tmp_path, capsys):
    manifest = _prepare(SAMPLES, "walkway", tmp_path / "walkway.jsonl", capsys)
    keywords = ("--method", "keywords")  # no model: the default method is in the slow test
    by_root = _figures(capsys, "--root", str(SAMPLES), "--dataset", "walkway", *keywords)
    results = tmp_path / "results.json"
    by_manifest = _figures(
        capsys, "--manifest", str(manifest), "--results", str(results), *keywords
    )
    _same_figures(by_root, by_manifest)
    assert (by_manifest["dataset"], by_manifest["videos"], by_manifest["frames"]) == (
        "walkway", 2, 36,
    )  # fmt: skip
    assert "the dataset's rules" in by_manifest["rules"]  # walkway/rules.txt, found via the rows
    assert json.loads(results.read_text())["benchmark"] == "walkway"


def test_manifest_and_root_flags_are_one_sentence(tmp_path, capsys):
    manifest = _prepare(SAMPLES, "walkway", tmp_path / "walkway.jsonl", capsys)
    assert main(["eval", "captions", "--manifest", str(manifest), "--dataset", "walkway"]) == 2
    assert capsys.readouterr().err == (
        "vlad: --manifest names the dataset already; drop --root and --dataset, or drop "
        "--manifest.\n"
    )
    assert main(["eval", "captions", "--dataset", "walkway"]) == 2
    assert capsys.readouterr().err == (
        "vlad: Give the caption dataset as --root DIR --dataset NAME or as --manifest FILE.jsonl.\n"
    )
    images = tmp_path / "images.jsonl"
    images.write_text(
        json.dumps(
            {
                "id": "bottle/000",
                "path": "/data/000.png",
                "kind": "image",
                "fps": None,
                "split": "test",
                "category": "bottle",
                "label": 0,
                "mask": None,
                "frames": None,
                "intervals": [],
                "source": "mvtec",
            }
        )
        + "\n"
    )
    assert main(["eval", "captions", "--manifest", str(images)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vlad: The --manifest {images} holds a record of 'mvtec' (bottle/000), not of "
        "AnomalyRuler's captions; write one with 'vlad data prepare anomalyruler --root ROOT "
        "--dataset NAME'.\n"
    )
    assert main(["eval", "captions", "--manifest", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err


@pytest.mark.skipif(not ANOMALYRULER.is_dir(), reason="shared AnomalyRuler captions not present")
def test_manifest_matches_root_on_real_ped2_keywords(tmp_path, capsys):
    manifest = _prepare(ANOMALYRULER, "ped2", tmp_path / "ped2.jsonl", capsys)
    common = ("--method", "keywords")
    by_root = _figures(capsys, "--root", str(ANOMALYRULER), "--dataset", "ped2", *common)
    by_manifest = _figures(capsys, "--manifest", str(manifest), *common)
    _same_figures(by_root, by_manifest)
    assert by_manifest["videos"] == 12


@pytest.mark.slow
@pytest.mark.skipif(not ANOMALYRULER.is_dir(), reason="shared AnomalyRuler captions not present")
def test_manifest_matches_root_on_real_ped2_default_method(tmp_path, capsys):
    manifest = _prepare(ANOMALYRULER, "ped2", tmp_path / "ped2.jsonl", capsys)
    by_root = _figures(capsys, "--root", str(ANOMALYRULER), "--dataset", "ped2")
    by_manifest = _figures(capsys, "--manifest", str(manifest))
    _same_figures(by_root, by_manifest)
