"""``vlad batch`` as a user runs it: tiny real CLIP folder, real images and videos on disk."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, truncate, write_frame_folder, write_video
from vlad.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("media")
    (folder / "plates" / "line2").mkdir(parents=True)
    make_image(64, 64, seed=1).save(folder / "plates" / "good.png")
    make_image(64, 64, seed=2, defect=True).save(folder / "plates" / "line2" / "dent.png")
    make_image(64, 64, seed=3).save(folder / "plates" / "line2" / "good.png")
    write_video(folder / "walk.mp4", moving_square_frames(20, 48, 64), fps=10)
    write_frame_folder(folder / "frames", moving_square_frames(8, 48, 64, seed=4))
    return folder


def _common(clip_dir: Path) -> list[str]:
    return ["--clip-weights", f"local-dir:{clip_dir}", "--no-progress", "--fps", "4"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folders_globs_frames_and_manifest(clip_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    manifest = tmp_path / "rows.csv"
    manifest.write_text(
        f"path,id,definitions,scene\n{media / 'walk.mp4'},cam-7,a person running|a fire,a walkway\n"
    )
    status = main(
        [
            "batch",
            str(media / "plates"),
            f"{media}/plates/line2/*.png",  # the same files again: each is one input
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--report",
            "md",
            *_common(clip_dir),
        ]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert "vlad: 4 analysed, 0 failed of 4 input(s)" in err
    ids = sorted(p.stem for p in (out / "results").glob("*.json"))
    assert ids == ["cam-7", "good.png", "line2__dent.png", "line2__good.png"]
    video = json.loads((out / "results" / "cam-7.json").read_text())
    assert video["definitions"][:2] == ["a person running", "a fire"]
    assert video["scene"] == "a walkway" and "timeline" in video
    index = _lines(out / "index.jsonl")
    assert sorted(line["id"] for line in index) == ids
    assert set(index[0]) == {
        "id",
        "input",
        "verdict",
        "score",
        "intervals",
        "text",
        "status",
        "seconds",
    }
    assert not (out / "errors.jsonl").exists()
    assert (out / ".vlad-batch").is_file() and (out / "run.yaml").is_file()
    assert (out / "report.html").is_file() and (out / "report.md").is_file()

    frames_out = tmp_path / "frames-out"
    status = main(
        [
            "batch",
            str(media / "frames"),
            "--frames-fps",
            "4",
            "--out",
            str(frames_out),
            *_common(clip_dir),
        ]
    )
    assert status == 0
    [record] = [json.loads(p.read_text()) for p in (frames_out / "results").glob("*.json")]
    assert record["kind"] == "video" and record["duration_s"] == pytest.approx(2.0)


def test_resume_changed_setting_retry_and_index_rebuild(clip_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    late = tmp_path / "late.png"
    args = ["batch", str(media / "plates"), str(late), "--out", str(out), *_common(clip_dir)]
    assert main(args) == 1  # late.png does not exist yet
    err = capsys.readouterr().err
    assert f"File '{late}' does not exist; check the path." in (out / "errors.jsonl").read_text()
    assert "3 analysed, 1 failed of 4 input(s)" in err

    make_image(64, 64, seed=9).save(late)
    assert main(args) == 1  # the failure is kept until --retry-failed
    err = capsys.readouterr().err
    assert "vlad: 3 input(s) already done with these settings are skipped." in err
    assert "vlad: 1 input(s) failed before and are skipped; add --retry-failed" in err

    assert main([*args, "--retry-failed"]) == 0
    assert "1 analysed, 0 failed, 3 already done of 4" in capsys.readouterr().err
    assert (out / "errors.jsonl").read_text() == ""

    index = out / "index.jsonl"
    index.write_text(index.read_text().splitlines()[0] + "\n" + '{"id": "torn')  # behind + torn
    assert main(args) == 0
    assert sorted(line["id"] for line in _lines(index)) == sorted(
        p.stem for p in (out / "results").glob("*.json")
    )

    assert main([*args, "--threshold", "0.2"]) == 0
    err = capsys.readouterr().err
    assert "vlad: 4 result(s) were made with other settings; analysing them again." in err
    assert len(_lines(index)) == 4
    assert all(
        json.loads(p.read_text())["threshold"] == 0.2 for p in (out / "results").glob("*.json")
    )


def test_every_bad_input_is_one_error_record_and_the_run_goes_on(clip_dir, media, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text.mp4").write_text("not a video at all")
    (bad / "empty.png").write_bytes(b"")
    truncate(media / "walk.mp4", 0.05, bad / "stub.mp4")
    truncate(REPO / "datasets" / "samples" / "walkway.mp4", 0.5, bad / "half.mp4")
    (bad / "notes.txt").write_text("a text file")
    (bad / "gone.png").symlink_to(tmp_path / "nowhere.png")
    rules = tmp_path / "rules.txt"
    rules.write_text("anomaly: a person running\n")
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"path": str(media / "plates" / "good.png"), "id": "ok-row"}),
                json.dumps({"id": "no-path", "scene": "a road"}),
                json.dumps({"path": str(media / "walk.mp4"), "rules": "missing.txt"}),
                json.dumps({"path": str(media / "walk.mp4"), "memory": "no-memory"}),
                "{broken",
            ]
        )
        + "\n"
    )
    out = tmp_path / "out"
    status = main(
        [
            "batch",
            str(bad / "text.mp4"),
            str(bad / "empty.png"),
            str(bad / "stub.mp4"),
            str(bad / "half.mp4"),
            str(bad / "notes.txt"),
            str(bad / "gone.png"),
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            *_common(clip_dir),
        ]
    )
    assert status == 1
    errors = {line["id"]: line["error"] for line in _lines(out / "errors.jsonl")}
    assert errors["text.mp4"].startswith("Cannot read video") and "text file" in errors["text.mp4"]
    assert "is empty (0 bytes)" in errors["empty.png"]
    assert errors["stub.mp4"].startswith(f"Cannot read video '{bad / 'stub.mp4'}'")
    assert "not an image" in errors["notes.txt"]
    assert "gone.png" in errors["gone.png"]
    assert errors["no-path"] == (
        "Manifest rows.jsonl line 2 has no 'path'; add a path column (the input file) to every row."
    )
    assert errors["rows-line-5"] == "Manifest rows.jsonl line 5 is not valid JSON; fix that line."
    missing = [e for e in errors.values() if "'missing.txt'" in e or "'no-memory'" in e]
    assert len(missing) == 2
    for message in errors.values():
        assert "\n" not in message and message.endswith(".")
    half = json.loads((out / "results" / "half.mp4.json").read_text())
    assert half["status"] == "ok" and half["stopped_early"]
    assert json.loads((out / "results" / "ok-row.json").read_text())["status"] == "ok"
    assert "vlad: 2 analysed, 9 failed of 11 input(s)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_is_an_error_record(clip_dir, tmp_path):
    locked = tmp_path / "locked.png"
    make_image(32, 32).save(locked)
    locked.chmod(0)
    make_image(32, 32).save(tmp_path / "fine.png")
    out = tmp_path / "out"
    try:
        status = main(
            [
                "batch",
                str(locked),
                str(tmp_path / "fine.png"),
                "--out",
                str(out),
                *_common(clip_dir),
            ]
        )
    finally:
        locked.chmod(0o600)
    assert status == 1
    [line] = _lines(out / "errors.jsonl")
    assert line["id"] == "locked.png"


def test_nothing_could_run_exits_2(clip_dir, tmp_path, capsys):
    status = main(
        ["batch", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), *_common(clip_dir)]
    )
    assert status == 2
    assert "0 analysed, 1 failed of 1 input(s)" in capsys.readouterr().err


def test_outputs_refused_before_any_work(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["batch", "x.png", "--out", str(a_file)]) == 2
    assert capsys.readouterr().err == (
        f"vlad: --out '{a_file}' is a file, not a folder; choose another folder.\n"
    )
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep me")
    assert main(["batch", "x.png", "--out", str(foreign)]) == 2
    assert capsys.readouterr().err == (
        f"vlad: --out '{foreign}' is a folder that holds other files and is not a vlad batch "
        "folder; choose an empty or new folder.\n"
    )
    assert sorted(p.name for p in foreign.iterdir()) == ["keep.txt"]
    assert main(["batch", "--out", str(tmp_path / "new")]) == 2
    assert "give INPUT paths or --manifest FILE" in capsys.readouterr().err
    assert main(["batch", "x.png", "--out", str(tmp_path / "n"), "--workers", "-1"]) == 2
    assert "--workers must be a whole number >= 0, got -1." in capsys.readouterr().err
    assert main(["batch", "x.png", "--out", str(tmp_path / "n"), "--ray-address", "h:1"]) == 2
    assert "need --engine ray" in capsys.readouterr().err


# ----------------------------------------------------------------------- stop and kill


@pytest.fixture
def many(tmp_path: Path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(8):
        make_image(48, 48, seed=n, defect=n % 3 == 0).save(folder / f"img{n:02d}.png")
    for n in range(2):
        write_video(folder / f"clip{n}.mp4", moving_square_frames(30, 48, 64, seed=n), fps=10)
    return folder


def _command(clip_dir: Path, inputs: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vlad.cli.main",
        "batch",
        str(inputs),
        "--out",
        str(out),
        "--batch-size",
        "2",
        *_common(clip_dir),
    ]


def _wait_for_results(out: Path, count: int, process: subprocess.Popen, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if len(list((out / "results").glob("*.json"))) >= count:
            return
        time.sleep(0.05)


def _check_complete(out: Path, inputs: Path) -> None:
    expected = sorted(p.name for p in inputs.iterdir())
    files = sorted((out / "results").glob("*.json"))
    records = [json.loads(p.read_text()) for p in files]  # every result file is valid JSON
    assert sorted(r["id"] for r in records) == expected  # none lost, none twice
    assert all(r["status"] == "ok" for r in records)
    index = _lines(out / "index.jsonl")
    assert sorted(line["id"] for line in index) == expected
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # five interpreter starts with torch
def test_kill_9_at_random_moments_loses_nothing_finished(clip_dir, many, tmp_path):
    out = tmp_path / "out"
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(3):
        process = subprocess.Popen(
            _command(clip_dir, many, out), cwd=REPO, env=env, stderr=subprocess.DEVNULL
        )
        done = len(list((out / "results").glob("*.json"))) if out.exists() else 0
        _wait_for_results(out, done + 1, process, limit=120)
        time.sleep(rng.uniform(0.0, 1.5))
        process.kill()  # SIGKILL: no clean-up at all
        process.wait()
        for path in (out / "results").glob("*.json"):
            json.loads(path.read_text())  # never a half-written record under a final name
    final = subprocess.run(
        _command(clip_dir, many, out), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    _check_complete(out, many)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ctrl_c_stops_cleanly_with_a_summary(clip_dir, many, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        _command(clip_dir, many, out),
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_results(out, 2, process, limit=600)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "vlad: stopped: " in err and "rerun the same command to finish the rest." in err
    assert "Traceback" not in err
    final = subprocess.run(
        _command(clip_dir, many, out), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert final.returncode == 0, final.stderr
    assert "already done with these settings are skipped" in final.stderr
    _check_complete(out, many)
