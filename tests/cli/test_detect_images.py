"""The ``vlad`` command as a user runs it: real tiny CLIP on disk, real image files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_image
from vlad.cli.main import main


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    make_image(40, 50, seed=1).save(folder / "img1.png")
    make_image(37, 29, seed=2, defect=True).save(folder / "img10.jpg")
    make_image(32, 32, seed=3).save(folder / "sub" / "img2.png")
    return folder


def _weights(clip_dir: Path) -> list[str]:
    return ["--clip-weights", f"local-dir:{clip_dir}", "--no-progress"]


def test_one_line_per_image(clip_dir, images, capsys):
    status = main(["detect", str(images), "--class-name", "bottle", *_weights(clip_dir)])
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    assert [line.split("\t")[0] for line in out] == [
        str(images / "img1.png"),
        str(images / "img10.jpg"),
        str(images / "sub" / "img2.png"),
    ]
    for line in out:
        _, score, label = line.split("\t")
        assert 0.0 <= float(score) <= 1.0
        assert label == ("anomalous" if float(score) >= 0.5 else "normal")


def test_json_records_and_maps(clip_dir, images, tmp_path, capsys):
    maps = tmp_path / "maps"
    status = main(
        [
            "detect",
            str(images / "img1.png"),
            str(images / "img10.jpg"),
            "--json",
            "--threshold",
            "0.3",
            "--map-out",
            str(maps),
            *_weights(clip_dir),
        ]
    )
    records = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [r["input"] for r in records] == [str(images / "img1.png"), str(images / "img10.jpg")]
    for record in records:
        assert set(record) >= {"input", "score", "label", "threshold"}
        assert record["threshold"] == 0.3
        assert record["label"] == ("anomalous" if record["score"] >= 0.3 else "normal")
    first = np.load(maps / "img1.npy")
    assert first.shape == (40, 50) and first.dtype == np.float32
    assert np.load(maps / "img10.npy").shape == (37, 29)
    with Image.open(maps / "img10_overlay.png") as overlay:
        assert overlay.size == (29, 37)
    assert not list(maps.glob(".*part"))


def test_batch_size_does_not_change_scores(clip_dir, images, capsys):
    main(["detect", str(images), "--json", "--batch-size", "1", *_weights(clip_dir)])
    one = json.loads(capsys.readouterr().out)
    main(["detect", str(images), "--json", "--batch-size", "3", *_weights(clip_dir)])
    three = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in one] == [r["input"] for r in three]
    np.testing.assert_allclose([r["score"] for r in one], [r["score"] for r in three], atol=1e-5)


def test_definitions_change_the_score(clip_dir, images, capsys):
    target = str(images / "img1.png")
    main(["detect", target, "--json", *_weights(clip_dir)])
    plain = json.loads(capsys.readouterr().out)[0]["score"]
    main(
        [
            "detect",
            target,
            "--json",
            "--define",
            "a deep scratch",
            "--replace-states",
            *_weights(clip_dir),
        ]
    )
    defined = json.loads(capsys.readouterr().out)[0]["score"]
    assert plain != pytest.approx(defined, abs=1e-6)


def test_few_shot_with_reference_folder(clip_dir, images, capsys):
    target = str(images / "img1.png")
    status = main(
        ["detect", target, "--json", "--reference", str(images / "img1.png"), *_weights(clip_dir)]
    )
    assert status == 0
    few_shot = json.loads(capsys.readouterr().out)[0]["score"]
    main(["detect", target, "--json", *_weights(clip_dir)])
    zero_shot = json.loads(capsys.readouterr().out)[0]["score"]
    # The image is its own reference: its association score is 0, so the score halves.
    assert few_shot == pytest.approx(zero_shot / 2, abs=1e-5)


def test_bad_inputs_are_reported_and_others_processed(clip_dir, images, tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    truncated = tmp_path / "cut.png"
    data = (images / "img1.png").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    empty_dir = tmp_path / "nothing_here"
    empty_dir.mkdir()
    args = [str(empty), str(images / "img1.png"), str(text), str(truncated)]
    args += [str(tmp_path / "missing.png"), str(empty_dir), "--json"]
    status = main(["detect", *args, *_weights(clip_dir)])
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert status == 1
    scored = [r for r in records if "score" in r]
    errors = {Path(r["input"]).name: r["error"] for r in records if "error" in r}
    assert [Path(r["input"]).name for r in scored] == ["img1.png"]
    assert set(errors) == {"empty.png", "notes.jpg", "cut.png", "missing.png", "nothing_here"}
    assert "empty" in errors["empty.png"]
    assert "truncated" in errors["cut.png"]
    assert "does not exist" in errors["missing.png"]
    assert "no image or video files" in errors["nothing_here"]
    for message in errors.values():
        assert "\n" not in message
        assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 5


def test_unusable_settings_exit_2_with_one_sentence(clip_dir, images, tmp_path, capsys):
    target = str(images / "img1.png")
    cases = [
        (["--clip-weights", str(tmp_path / "none.safetensors")], "does not exist"),
        (["--clip-weights", f"local-dir:{tmp_path}"], "open_clip_config.json"),
        (["--clip", "NoSuchNet", "--clip-weights", "x.pt"], "Unknown CLIP architecture"),
        (["--threshold", "1.5", *_weights(clip_dir)], "Threshold must lie in"),
        (["--prompts", "nope", *_weights(clip_dir)], "Unknown WinCLIP prompt 'nope'"),
        (["--device", "tpu", *_weights(clip_dir)], "Unknown device"),
        (["--replace-states", *_weights(clip_dir)], "needs at least one --define"),
        (["--reference", str(tmp_path / "nope"), *_weights(clip_dir)], "does not exist"),
    ]
    for extra, expected in cases:
        status = main(["detect", target, *extra])
        err = capsys.readouterr().err.strip()
        assert status == 2, extra
        assert expected in err, (extra, err)
        assert len(err.splitlines()) == 1, err


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["detect"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vlad: ") and "--help" in err and len(err.splitlines()) == 1


def test_console_script_end_to_end(clip_dir, images, tmp_path):
    """The installed ``vlad`` command, in a subprocess, with a progress bar on stderr."""
    executable = Path(sys.executable).with_name("vlad")
    env = {**os.environ, "VLAD_CLIP_WEIGHTS": f"local-dir:{clip_dir}"}
    done = subprocess.run(
        [str(executable), "detect", str(images), str(tmp_path / "gone.png"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    records = json.loads(done.stdout)
    assert len(records) == 4
    assert "Traceback" not in done.stderr
    assert "gone.png" in done.stderr
    assert "img/s" in done.stderr  # the progress bar over the folder


def test_a_tiny_animated_image_is_scored_with_its_notes_on_stderr(clip_dir, tmp_path, capsys):
    path = tmp_path / "dot.gif"
    frames = [Image.new("RGB", (1, 1), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    status = main(["detect", str(path), "--json", *_weights(clip_dir)])
    captured = capsys.readouterr()
    assert status == 0
    [record] = json.loads(captured.out)
    notes = [
        "The file has 2 frames (an animation); only the first frame is scored.",
        "The image is only 1x1 pixels (under 32 on a side), so CLIP sees it blown up and its "
        "verdict says little.",
    ]
    assert record["notes"] == notes
    assert captured.err.strip().splitlines() == [f"vlad: {path}: {note}" for note in notes]
