"""``vlad train prompts`` end to end on synthetic MVTec-layout data with a tiny CLIP."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.scoring.learned.synthetic import (
    TINY_MODEL_FLAGS,
    make_synthetic_mvtec,
    write_tiny_clip_dir,
)
from vlad.cli.main import EXIT_UNUSABLE, main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = make_synthetic_mvtec(tmp_path_factory.mktemp("syn") / "mvtec", size=32, per_defect=2)
    clip = write_tiny_clip_dir(tmp_path_factory.mktemp("clip"))
    return root, clip


def _argv(root, clip, out, *extra: str) -> list[str]:
    return [
        *("train", "prompts", "--data", str(root), "--clip-weights", f"local-dir:{clip}"),
        *("--out", str(out), "--image-size", "32", "--batch-size", "8", "--device", "cpu"),
        *("--no-progress", "--json", *TINY_MODEL_FLAGS, *extra),
    ]


def test_train_writes_prompts_checkpoints_records_and_resumes(setup, tmp_path, capsys):
    from vlad.scoring.learned.checkpoint import load_prompts

    root, clip = setup
    out = tmp_path / "run"
    assert main(_argv(root, clip, out, "--epochs", "1", "--max-steps", "2")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["images"], summary["epochs"], summary["steps"]) == (16, 1, 2)
    for name in ("prompts.safetensors", "prompts.json", "run.yaml", "loss.png", "metrics.jsonl"):
        assert (out / name).is_file(), name
    assert (out / "checkpoints/epoch-1/trainable.safetensors").is_file()
    prompts = load_prompts(out)
    assert prompts.config.image_size == 32 and prompts.config.feature_layers == (2, 4)
    assert prompts.provenance["steps"] == 2 and prompts.provenance["format"] == "mvtec"
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["settings"]["epochs"] == 1 and record["command"][:3] == [
        "vlad",
        "train",
        "prompts",
    ]

    assert main(_argv(root, clip, out, "--epochs", "1")) == EXIT_UNUSABLE
    assert "already holds a training run; pass --resume" in capsys.readouterr().err
    assert main(_argv(root, clip, out, "--epochs", "2", "--max-steps", "3", "--resume")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["resumed_after_epoch"], summary["epochs"], summary["steps"]) == (1, 2, 3)
    assert (out / "checkpoints/epoch-2/state.json").is_file()


def test_train_lora_only_saves_a_peft_adapter_and_a_merged_clip(setup, tmp_path, capsys):
    from vlad.scoring.learned.adapters import read_lora_settings

    root, clip = setup
    out = tmp_path / "lora"
    extra = ("--epochs", "1", "--max-steps", "1", "--adapter", "lora", "--lora-rank", "2")
    assert main(_argv(root, clip, out, *extra, "--no-prompts", "--merge")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert str(out / "adapter") in summary["files"]
    assert {p.name for p in (out / "adapter").iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "vlad_adapter.json",
    }
    assert read_lora_settings(out / "adapter").rank == 2
    assert (out / "clip-merged.safetensors").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--no-prompts",), "--no-prompts leaves nothing to train; add --adapter lora."),
        (("--merge",), "--merge folds adapters into the CLIP; add --adapter lora."),
        (("--adapter", "lora", "--lora-rank", "0"), "--lora-rank must be an integer >= 1"),
        (("--epochs", "0"), "--epochs must be a whole number >= 1, got 0."),
        (("--lr", "-1"), "--lr must be a number > 0, got -1.0."),
        (("--format", "folder", "--category", "bottle"), "--category goes with --format mvtec"),
        (("--dpam-layer", "9"), "--dpam-layer 9 asks for DPAM in 8 blocks"),
    ],
)
def test_bad_settings_are_one_sentence(setup, tmp_path, capsys, extra, message):
    root, clip = setup
    assert main(_argv(root, clip, tmp_path / "o", *extra)) == EXIT_UNUSABLE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_missing_data_names_the_flag(setup, tmp_path, capsys):
    _, clip = setup
    assert main(_argv(tmp_path / "nowhere", clip, tmp_path / "o")) == EXIT_UNUSABLE
    assert f"--data {tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err
