"""``vlad detect VIDEO --memory DIR``: a CLIP-text memory built by the CLI scores a video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.videos import moving_square_frames, write_video
from vlad.cli.main import main
from vlad.scoring.memory import MemoryEntry, MemoryIndex

CAPTIONS = [
    {"text": "people walking on the campus walkway", "label": "normal"},
    {"text": "a student sitting on a bench", "label": "normal"},
    {"text": "a car driving on the walkway", "label": "anomalous", "category": "vehicle"},
    {"text": "two men fighting", "label": "anomalous", "category": "fight"},
]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    return write_video(folder / "walkway.mp4", moving_square_frames(20, 48, 64), fps=10)


@pytest.fixture(scope="module")
def clip_memory(clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("memory")
    captions = root / "captions.jsonl"
    captions.write_text("".join(json.dumps(c) + "\n" for c in CAPTIONS))
    out = root / "clip-memory"
    status = main(
        [
            "memory",
            "build",
            "--from-captions",
            str(captions),
            "--embedder",
            f"clip:@local-dir:{clip_dir}",
            "--out",
            str(out),
            "--no-progress",
            "--json",
        ]
    )
    assert status == 0
    return out


def _detect(clip_dir: Path, *args: str) -> int:
    return main(["detect", *args, "--clip-weights", f"local-dir:{clip_dir}", "--no-progress"])


def test_memory_scores_the_video_and_explains_intervals_in_json(
    clip_dir, video, clip_memory, capsys
):
    capsys.readouterr()
    status = _detect(
        clip_dir, str(video), "--memory", str(clip_memory), "--threshold", "0", "--json"
    )
    (record,) = json.loads(capsys.readouterr().out)
    assert status == 0
    assert record["definitions"] == ["memory"]
    (interval,) = record["intervals"]  # threshold 0: the whole video
    assert (interval["start_s"], interval["end_s"], interval["definition"]) == (0.0, 2.0, "memory")
    neighbors = interval["neighbors"]
    assert len(neighbors) == 4  # k=10, but the memory holds 4 captions
    assert sorted(n["text"] for n in neighbors) == sorted(c["text"] for c in CAPTIONS)
    assert all(set(n) >= {"text", "label", "similarity"} for n in neighbors)
    similarities = [n["penalised_similarity"] for n in neighbors]
    assert similarities == sorted(similarities, reverse=True)
    # the score track is the memory's Flashback score of each sampled frame
    memory = MemoryIndex.load(clip_memory)
    assert 0.0 <= record["score"] <= 1.0
    assert all(0.0 <= s["score"] <= 1.0 for s in record["segments"])
    assert memory.count == 4


def test_text_output_lists_the_top_three_neighbours(clip_dir, video, clip_memory, capsys):
    capsys.readouterr()
    status = _detect(clip_dir, str(video), "--memory", str(clip_memory), "--threshold", "0")
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].endswith("anomalous\t1 interval(s)")
    assert lines[1].startswith("  0:00.0-0:02.0\tpeak ") and lines[1].endswith("\tmemory")
    assert len(lines) == 5
    texts = {c["text"] for c in CAPTIONS}
    for line in lines[2:]:
        label, sim, text = line.strip().split("\t")
        assert label.strip() in ("normal", "anomalous") and sim.startswith("sim ")
        assert text in texts


def test_memory_of_another_embedder_is_refused_in_one_sentence(clip_dir, video, tmp_path, capsys):
    entries = [MemoryEntry("a calm day", "normal"), MemoryEntry("a fire", "anomalous")]
    rows = np.eye(2, 32, dtype=np.float32)
    other = MemoryIndex.from_entries(entries, rows, embedder="st:all-MiniLM-L6-v2")
    other.save(tmp_path / "other")
    status = _detect(clip_dir, str(video), "--memory", str(tmp_path / "other"))
    captured = capsys.readouterr()
    assert status == 2 and captured.out.strip() in ("", "[]")
    assert captured.err.startswith(f"vlad: Memory '{tmp_path / 'other'}' was built with embedder")
    assert "--embedder clip:ARCH@WEIGHTS" in captured.err and captured.err.count("\n") == 1


def test_missing_memory_folder_is_one_sentence(clip_dir, video, tmp_path, capsys):
    status = _detect(clip_dir, str(video), "--memory", str(tmp_path / "nope"))
    err = capsys.readouterr().err
    assert status == 2 and "does not exist" in err and err.count("\n") == 1
