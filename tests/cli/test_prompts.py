"""``vlad prompts show``: shapes, settings, CLIP and provenance of vlad's files and the
authors' checkpoints; unreadable files are one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.learned_helpers import TINY_LEARNED, authors_checkpoint, load_local, write_prompts
from vlad.cli.main import main
from vlad.config.files import to_dict
from vlad.scoring.learned.checkpoint import clip_fingerprint

PROVENANCE = {"data": "synthetic-mvtec", "format": "mvtec", "epochs": 3, "steps": 60}


@pytest.fixture(scope="module")
def encoder(clip_dir: Path):
    return load_local(clip_dir)


@pytest.fixture(scope="module")
def prompts_dir(encoder, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("learned") / "prompts"
    write_prompts(folder, encoder, clip_name="vlad-cli-tiny", provenance=PROVENANCE)
    return folder


def test_json(prompts_dir, encoder, capsys):
    assert main(["prompts", "show", str(prompts_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["path"] == str(prompts_dir)
    assert record["format"] == "vlad"
    assert record["clip"] == {
        "name": "vlad-cli-tiny",
        "fingerprint": clip_fingerprint(encoder.model),
    }
    width = 64  # the tiny CLIP's text width
    assert record["tensors"] == {
        "ctx_normal": [TINY_LEARNED.n_ctx, width],
        "ctx_anomalous": [TINY_LEARNED.n_ctx, width],
        "text_tokens": [TINY_LEARNED.text_depth - 1, TINY_LEARNED.text_ctx, width],
    }
    assert record["parameters"] == 2 * 4 * 64 + 1 * 2 * 64
    assert record["settings"] == json.loads(json.dumps(to_dict(TINY_LEARNED)))
    assert record["provenance"] == PROVENANCE


def test_text(prompts_dir, encoder, capsys):
    for target in (prompts_dir, prompts_dir / "prompts.safetensors", prompts_dir / "prompts.json"):
        assert main(["prompts", "show", str(target)]) == 0
        out = capsys.readouterr().out
        lines = out.splitlines()
        assert lines[0] == f"{target}: learned prompts (vlad format), 640 learnable numbers"
        assert "  CLIP        vlad-cli-tiny" in lines
        assert f"  fingerprint {clip_fingerprint(encoder.model)}" in lines
        assert "  ctx_normal     4 x 64" in lines
        assert "  text_tokens    1 x 2 x 64" in lines
        assert "  feature_layers   1, 2" in lines
        assert "  image_size       32" in lines
        assert "  epochs           3" in lines
        assert "  data             synthetic-mvtec" in lines


def test_authors_checkpoint(tmp_path, capsys):
    path = authors_checkpoint(tmp_path / "9_12_4_multiscale_visa.pth", width=64, n_ctx=12, deep=8)
    assert main(["prompts", "show", str(path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["format"] == "authors"
    assert record["clip"] == {"name": "ViT-L-14-336", "fingerprint": None}
    assert record["tensors"]["ctx_normal"] == [12, 64]
    assert record["tensors"]["text_tokens"] == [8, 2, 64]
    assert record["settings"]["text_depth"] == 9
    assert record["provenance"]["file"] == path.name
    assert main(["prompts", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(authors format)" in out.splitlines()[0]
    assert "  fingerprint not recorded (checked by token width on use)" in out


def _error(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_missing_file(tmp_path, capsys):
    assert main(["prompts", "show", str(tmp_path / "nowhere")]) == 2
    assert _error(capsys).startswith(
        f"vlad: Learned prompts '{tmp_path / 'nowhere'}' do not exist;"
    )


def test_a_folder_without_prompts(tmp_path, capsys):
    assert main(["prompts", "show", str(tmp_path)]) == 2
    assert "lack prompts.safetensors" in _error(capsys)


def test_a_pth_that_is_not_a_checkpoint(tmp_path, capsys):
    import torch

    path = tmp_path / "model.pth"
    torch.save({"state_dict": {}}, path)
    assert main(["prompts", "show", str(path)]) == 2
    assert "is not an AnomalyCLIP checkpoint" in _error(capsys)


def test_a_damaged_json(prompts_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(prompts_dir, copy)
    (copy / "prompts.json").write_text("{not json")
    assert main(["prompts", "show", str(copy)]) == 2
    assert "cannot be read" in _error(capsys)


def test_needs_an_action(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["prompts"])
    assert caught.value.code == 2
    assert "vlad prompts" in capsys.readouterr().err
