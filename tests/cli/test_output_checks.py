"""Outputs are checked before any work starts, and nothing vlad did not write is deleted.

Each case is a defect a new user met (issue 11, item 6): the command must refuse in one
sentence naming the flag (exit status 2) before loading a model, and leave the user's files
as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vlad.cli.main import main


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vlad: ") and err.endswith("."), err
    return err


@pytest.fixture()
def captions(tmp_path: Path) -> Path:
    path = tmp_path / "captions.jsonl"
    path.write_text(json.dumps({"text": "people walking", "label": "normal"}) + "\n")
    return path


def test_memory_build_force_keeps_a_folder_that_is_not_a_memory(tmp_path, captions, capsys):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["memory", "build", "--from-captions", str(captions), "--out", str(out), "--force"]
    assert main([*argv, "--no-progress"]) == 2
    assert one_line_error(capsys) == (
        f"vlad: Folder '{out}' is not a vlad memory (it has no manifest.json), so it is not "
        "replaced; choose another --out."
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"


def test_memory_build_force_keeps_a_memory_holding_a_users_file(tmp_path, captions, capsys):
    out = tmp_path / "memory"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    (out / "keep.txt").write_text("mine")
    argv = ["memory", "build", "--from-captions", str(captions), "--out", str(out), "--force"]
    assert main([*argv, "--no-progress"]) == 2
    assert one_line_error(capsys) == (
        f"vlad: Folder '{out}' holds files vlad did not write (keep.txt), so it is not "
        "replaced; choose another --out, or move them out."
    )
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "manifest.json"]


@pytest.fixture()
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any start of real work (a pipeline built, a dataset read)."""
    started: list[str] = []

    def pipeline(*args: object, **kwargs: object) -> None:
        started.append("pipeline")
        raise AssertionError("the pipeline was built before the outputs were checked")

    def dataset(*args: object, **kwargs: object) -> None:
        started.append("dataset")
        raise AssertionError("the dataset was read before the outputs were checked")

    import vlad.data.captions
    import vlad.pipeline

    monkeypatch.setattr(vlad.pipeline.Pipeline, "from_config", pipeline)
    monkeypatch.setattr(vlad.data.captions, "read_caption_dataset", dataset)
    return started


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "bottle.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path)
    return path


def test_detect_map_out_that_is_a_file_stops_before_any_work(tmp_path, image, no_work, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert main(["detect", str(image), "--map-out", str(taken), "--no-progress"]) == 2
    assert one_line_error(capsys) == (
        f"vlad: --map-out '{taken}' is a file, not a folder; choose another folder."
    )
    assert no_work == [] and taken.read_text() == "mine"


def test_detect_outputs_inside_a_file_stop_before_any_work(tmp_path, image, no_work, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    for flag, value in [("--plot", taken / "timeline.png"), ("--map-out", taken / "maps")]:
        assert main(["detect", str(image), flag, str(value), "--no-progress"]) == 2
        assert one_line_error(capsys) == (
            f"vlad: {flag} '{value}' cannot be written: '{taken}' is a file, not a folder; "
            "choose another path."
        )
    assert no_work == []


def test_eval_captions_out_that_cannot_be_written_stops_before_any_work(tmp_path, no_work, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    argv = ["eval", "captions", "--root", str(tmp_path), "--dataset", "toy", "--no-progress"]
    assert main([*argv, "--out", str(taken / "frames.jsonl")]) == 2
    assert one_line_error(capsys) == (
        f"vlad: --out '{taken / 'frames.jsonl'}' cannot be written: '{taken}' is a file, not a "
        "folder; choose another path."
    )
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert one_line_error(capsys) == f"vlad: --out '{tmp_path}' is a folder; give a file name."
    assert no_work == [] and taken.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_output_in_a_folder_that_is_not_writable_stops_before_any_work(
    tmp_path, image, no_work, capsys
):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert main(["detect", str(image), "--plot", str(locked / "t.png")]) == 2
        assert one_line_error(capsys) == (
            f"vlad: --plot '{locked / 't.png'}' cannot be written: folder '{locked}' is not "
            "writable; choose another path."
        )
    finally:
        locked.chmod(0o755)
    assert no_work == []


def test_an_existing_output_file_may_be_replaced(tmp_path):
    from vlad.cli.main import build_parser
    from vlad.cli.options import check_outputs, parse_args

    old = tmp_path / "frames.jsonl"
    old.write_text("old\n")
    argv = ["eval", "captions", "--root", "r", "--dataset", "d", "--out", str(old)]
    check_outputs(parse_args(build_parser(), argv))  # no error
    argv = ["detect", "x.png", "--map-out", str(tmp_path / "new" / "maps")]
    check_outputs(parse_args(build_parser(), argv))  # folders are made when missing
