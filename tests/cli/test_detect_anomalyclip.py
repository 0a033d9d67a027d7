"""``vlad detect --method anomalyclip --learned-prompts``, as a user runs it: real tiny CLIP
and prompt files on disk, real image files; every bad setting is one sentence naming a flag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import make_image
from tests.learned_helpers import OTHER_SHAPE, clip_folder, load_local, write_prompts
from vlad.cli.main import main
from vlad.scoring.learned.scorer import AnomalyClipScorer


@pytest.fixture(scope="module")
def encoder(clip_dir: Path):
    return load_local(clip_dir)


@pytest.fixture(scope="module")
def prompts_dir(encoder, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("learned") / "prompts"
    write_prompts(folder, encoder, seed=3)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    make_image(40, 50, seed=1).save(folder / "img1.png")
    make_image(37, 29, seed=2, defect=True).save(folder / "img2.jpg")
    return folder


def _run(clip_dir: Path, *args: str) -> list[str]:
    return [*args, "--clip-weights", f"local-dir:{clip_dir}", "--device", "cpu", "--no-progress"]


def test_json_records_and_maps_match_the_api(clip_dir, encoder, prompts_dir, images, tmp_path,
                                             capsys):  # fmt: skip
    maps = tmp_path / "maps"
    status = main(
        _run(
            clip_dir,
            "detect",
            str(images),
            "--method",
            "anomalyclip",
            "--learned-prompts",
            str(prompts_dir),
            "--json",
            "--map-out",
            str(maps),
        )
    )
    records = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [r["input"] for r in records] == [str(images / "img1.png"), str(images / "img2.jpg")]
    scorer = AnomalyClipScorer.load(encoder, prompts_dir)
    expected = scorer.score_images(
        [
            Image.open(images / "img1.png").convert("RGB"),
            Image.open(images / "img2.jpg").convert("RGB"),
        ]
    )
    for record, (score, anomaly_map), stem in zip(records, expected, ["img1", "img2"], strict=True):
        assert record["score"] == pytest.approx(score, abs=1e-5)
        assert record["label"] == ("anomalous" if score >= 0.5 else "normal")
        assert (record["height"], record["width"]) == anomaly_map.shape
        assert record["map_max"] == pytest.approx(float(anomaly_map.max()), abs=1e-5)
        written = np.load(maps / f"{stem}.npy")
        np.testing.assert_allclose(written, anomaly_map, atol=1e-5)
        assert (maps / f"{stem}_overlay.png").is_file()
    run = yaml.safe_load((maps / "run.yaml").read_text())
    assert run["settings"]["method"] == "anomalyclip"
    assert run["settings"]["learned_prompts"] == str(prompts_dir)


def test_the_safetensors_file_and_image_size(clip_dir, prompts_dir, images, capsys):
    args = ["detect", str(images / "img1.png"), "--method", "anomalyclip", "--json"]
    main(_run(clip_dir, *args, "--learned-prompts", str(prompts_dir / "prompts.safetensors")))
    [from_file] = json.loads(capsys.readouterr().out)
    main(_run(clip_dir, *args, "--learned-prompts", str(prompts_dir)))
    [from_dir] = json.loads(capsys.readouterr().out)
    assert from_file["score"] == from_dir["score"]
    status = main(
        _run(clip_dir, *args, "--learned-prompts", str(prompts_dir), "--image-size", "48")
    )
    [bigger] = json.loads(capsys.readouterr().out)
    assert status == 0 and bigger["score"] != from_dir["score"]
    assert (bigger["height"], bigger["width"]) == (40, 50)


def test_a_config_file_sets_the_method(clip_dir, prompts_dir, images, tmp_path, capsys):
    config = tmp_path / "detect.yaml"
    config.write_text(
        yaml.safe_dump({"pipeline": {"method": "anomalyclip", "learned_prompts": str(prompts_dir)}})
    )
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), "--json", "--config",
                       str(config)))  # fmt: skip
    [record] = json.loads(capsys.readouterr().out)
    main(_run(clip_dir, "detect", str(images / "img1.png"), "--json", "--method", "anomalyclip",
              "--learned-prompts", str(prompts_dir)))  # fmt: skip
    [flags] = json.loads(capsys.readouterr().out)
    assert status == 0 and record["score"] == flags["score"]


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--method", "anomalyclip"],
            "vlad: Method anomalyclip needs --learned-prompts: the folder 'vlad train prompts' "
            "wrote, its prompts.safetensors, or the authors' .pth checkpoint.",
        ),
        (
            ["--learned-prompts", "run/"],
            "vlad: --learned-prompts are used by method anomalyclip only; choose that method or "
            "leave --learned-prompts out.",
        ),
        (
            ["--image-size", "336"],
            "vlad: --image-size sets the input size of method anomalyclip only; choose that "
            "method or leave --image-size out.",
        ),
    ],
)
def test_settings_that_do_not_fit(clip_dir, images, capsys, extra, message):
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), *extra))
    assert status == 2
    assert _error(capsys) == message
    assert capsys.readouterr().out == ""


def test_unknown_method_is_a_parse_error(clip_dir, images, capsys):
    with pytest.raises(SystemExit) as caught:
        main(_run(clip_dir, "detect", str(images), "--method", "patchcore"))
    assert caught.value.code == 2
    assert "invalid choice: 'patchcore'" in capsys.readouterr().err


def test_image_size_off_the_patch_grid(clip_dir, prompts_dir, images, capsys):
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), "--method", "anomalyclip",
                       "--learned-prompts", str(prompts_dir), "--image-size", "30"))  # fmt: skip
    assert status == 2
    assert _error(capsys).startswith(
        "vlad: --image-size 30 is not a multiple of the 8-pixel patches of CLIP"
    )


def test_reference_images_are_refused(clip_dir, prompts_dir, images, capsys):
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), "--method", "anomalyclip",
                       "--learned-prompts", str(prompts_dir), "--reference",
                       str(images / "img2.jpg")))  # fmt: skip
    assert status == 2
    assert _error(capsys) == (
        "vlad: --reference do not apply to method anomalyclip (its learned prompts are "
        "zero-shot); leave --reference out or use method winclip."
    )


def test_prompts_for_another_clip(clip_dir, images, tmp_path, capsys):
    other = load_local(clip_folder(tmp_path / "clip", OTHER_SHAPE, seed=1))
    path = write_prompts(tmp_path / "other", other, clip_name="ViT-other")
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), "--method", "anomalyclip",
                       "--learned-prompts", str(path.parent)))  # fmt: skip
    assert status == 2
    line = _error(capsys)
    assert line.startswith(
        f"vlad: --learned-prompts '{path.parent}' were trained for CLIP ViT-other"
    )
    assert line.endswith("use that CLIP or train prompts for this one.")


def test_missing_prompts(clip_dir, images, tmp_path, capsys):
    status = main(_run(clip_dir, "detect", str(images / "img1.png"), "--method", "anomalyclip",
                       "--learned-prompts", str(tmp_path / "nowhere")))  # fmt: skip
    assert status == 2
    assert "do not exist" in _error(capsys)
