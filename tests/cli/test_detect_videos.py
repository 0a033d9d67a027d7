"""``vlad detect VIDEO`` as a user runs it: real tiny CLIP folder, real encoded videos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.videos import moving_square_frames, write_audio_only, write_frame_folder, write_video
from vlad.cli.main import main


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "walkway.mp4", moving_square_frames(40, 48, 64), fps=10)
    write_video(folder / "gate.avi", moving_square_frames(25, 36, 50, seed=2), fps=5, codec="mjpeg")
    return folder


def _common(clip_dir: Path) -> list[str]:
    return ["--clip-weights", f"local-dir:{clip_dir}", "--no-progress"]


def test_json_record_plot_and_maps(clip_dir, videos, tmp_path, capsys):
    plot = tmp_path / "t.png"
    maps = tmp_path / "maps"
    status = main(
        [
            "detect",
            str(videos / "walkway.mp4"),
            "--define",
            "a person riding a bicycle",
            "--define",
            "someone climbing the fence",
            "--json",
            "--plot",
            str(plot),
            "--map-out",
            str(maps),
            "--threshold",
            "0",
            "--fps",
            "4",
            "--segment-seconds",
            "1.5",
            *_common(clip_dir),
        ]
    )
    (record,) = json.loads(capsys.readouterr().out)
    assert status == 0
    assert record["input"] == str(videos / "walkway.mp4")
    assert record["duration_s"] == pytest.approx(4.0)
    assert record["fps"] == pytest.approx(10.0)
    assert record["sample_fps"] == 4.0
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [
        (0.0, 1.5),
        (1.5, 3.0),
        (3.0, 4.0),
    ]
    assert all(0.0 <= s["score"] <= 1.0 for s in record["segments"])
    # threshold 0: each definition fires over the whole video, one interval each
    intervals = record["intervals"]
    assert [(i["start_s"], i["end_s"]) for i in intervals] == [(0.0, 4.0), (0.0, 4.0)]
    assert sorted(i["definition"] for i in intervals) == sorted(record["definitions"])
    assert record["label"] == "anomalous"
    with Image.open(plot) as figure:
        assert figure.size[0] > 600 and figure.size[1] > 300
    overlays = sorted(maps.glob("walkway_*.png"))
    assert [p.name[:11] for p in overlays] == ["walkway_01_", "walkway_02_"]
    assert [m["overlay"] for m in record["maps"]] == [str(p) for p in overlays]
    for overlay in overlays:
        with Image.open(overlay) as image:
            assert image.size == (64, 48)


def test_text_lines_for_a_video_and_images_together(clip_dir, videos, tmp_path, capsys):
    Image.new("RGB", (40, 30), (120, 130, 140)).save(tmp_path / "still.png")
    status = main(
        [
            "detect",
            str(videos / "gate.avi"),
            str(tmp_path / "still.png"),
            "--threshold",
            "0",
            *_common(clip_dir),
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].startswith(str(tmp_path / "still.png") + "\t")
    assert lines[1].startswith(str(videos / "gate.avi") + "\t")
    assert lines[1].endswith("anomalous\t5 interval(s)")  # the 5 default definitions
    assert all(line.startswith("  0:00.0-0:05.0\tpeak ") for line in lines[2:7])


def test_folder_walk_finds_videos(clip_dir, videos, capsys):
    status = main(["detect", str(videos), "--json", *_common(clip_dir)])
    records = json.loads(capsys.readouterr().out)
    assert status == 0
    assert sorted(Path(r["input"]).name for r in records) == ["gate.avi", "walkway.mp4"]


def test_frame_folder_with_frames_fps(clip_dir, tmp_path, capsys):
    folder = write_frame_folder(tmp_path / "test_01", moving_square_frames(12, 32, 40))
    status = main(["detect", str(folder), "--frames-fps", "6", "--json", *_common(clip_dir)])
    (record,) = json.loads(capsys.readouterr().out)
    assert status == 0
    assert record["duration_s"] == pytest.approx(2.0)
    assert record["frame_count"] == 12


def test_bad_videos_one_sentence_each_nothing_half_written(clip_dir, videos, tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "readme.mp4"
    text.write_text("not a video at all\n" * 20)
    audio = write_audio_only(tmp_path / "sound.mp4")
    plot = tmp_path / "plot.png"
    args = [str(empty), str(text), str(audio), str(videos / "walkway.mp4"), "--json"]
    status = main(["detect", *args, "--plot", str(plot), *_common(clip_dir)])
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert status == 1
    errors = {Path(r["input"]).name: r["error"] for r in records if "error" in r}
    assert set(errors) == {"empty.mp4", "readme.mp4", "sound.mp4"}
    for name, message in errors.items():
        assert name in message and "\n" not in message
    assert "audio" in errors["sound.mp4"]
    assert [Path(r["input"]).name for r in records if "error" not in r] == ["walkway.mp4"]
    assert "Traceback" not in captured.err
    # only the good video's plot exists (named after it since several videos were given)
    assert [p.name for p in tmp_path.glob("plot*.png")] == ["plot_walkway.png"]


def test_bad_video_options_exit_2(clip_dir, videos, capsys):
    cases = [
        (["--fps", "0"], "--fps must be a positive"),
        (["--segment-seconds", "-1"], "--segment-seconds must be a positive"),
        (["--low-threshold", "0.9", "--threshold", "0.5"], "low threshold"),
        (["--frames-fps", "nan"], "--frames-fps must be a positive"),
        (["--scene-prompts", "nope"], "Unknown scene prompt 'nope'"),
    ]
    for extra, expected in cases:
        status = main(["detect", str(videos / "walkway.mp4"), *extra, *_common(clip_dir)])
        err = capsys.readouterr().err.strip()
        assert status == 2, extra
        assert expected in err, (extra, err)
        assert len(err.splitlines()) == 1


def test_progress_bar_over_the_video_duration(clip_dir, videos):
    env = {**os.environ, "VLAD_CLIP_WEIGHTS": f"local-dir:{clip_dir}"}
    executable = Path(sys.executable).with_name("vlad")
    done = subprocess.run(
        [str(executable), "detect", str(videos / "walkway.mp4"), "--define", "a fall"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "walkway.mp4" in done.stderr and "/4.0 s" in done.stderr  # seconds done / total
    assert done.stdout.startswith(str(videos / "walkway.mp4") + "\t")


def test_a_truncated_video_is_reported_once_with_the_records_frame_count(
    clip_dir, tmp_path, capsys, caplog
):
    import logging

    from tests.analysis_helpers import event_frames
    from tests.videos import truncate

    whole = write_video(tmp_path / "whole.mkv", event_frames(), fps=10, codec="libx264")
    cut = truncate(whole, 0.6, tmp_path / "cut.mkv")
    with caplog.at_level(logging.WARNING, logger="vlad"):
        status = main(["detect", str(cut), "--json", "--plot", str(tmp_path / "t.png"),
                       "--map-out", str(tmp_path / "maps"), *_common(clip_dir)])  # fmt: skip
    captured = capsys.readouterr()
    (record,) = json.loads(captured.out)
    assert status == 0
    said = [r.getMessage() for r in caplog.records] + captured.err.strip().splitlines()
    said = [line for line in said if "decoding stopped" in line]
    # Once (not once per reopening of the file), and with the record's own figures.
    assert said == [f"Video '{cut}': {record['stopped_early']}."]
    assert record["notes"] == [record["stopped_early"]]
    assert (record["frame_count"], record["duration_s"]) == (38, pytest.approx(3.8))
    assert record["stopped_early"] == (
        f"decoding stopped at frame 38 (3.80 s) of about 6.00 s; the rest of '{cut}' is "
        "missing or damaged"
    )
