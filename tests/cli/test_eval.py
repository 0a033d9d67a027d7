"""``vlad eval captions`` as a user runs it, and the caption dataset loader's errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.shared_data import ANOMALYRULER
from vlad.cli.main import main
from vlad.data.captions import load_caption_dataset
from vlad.errors import ConfigError, InputError
from vlad.runners.captions import dataset_rules

SHARED = ANOMALYRULER

RULES = """**Anomaly Human Activities:**
1. Running or jumping
2. Riding a bicycle

**Normal Human Activities:**
1. Walking on the path
2. Standing and talking
"""


def write_dataset(
    root: Path,
    videos: dict[str, tuple[list[str], list[int]]],
    *,
    rules: str | None = RULES,
    name: str = "toy",
) -> Path:
    folder = root / name
    (folder / "test_frame").mkdir(parents=True)
    (folder / "test_frame_description").mkdir()
    for video, (captions, labels) in videos.items():
        rows = ["image_path,label"] + [f"{video}/{i:03d}.jpg,{y}" for i, y in enumerate(labels)]
        (folder / "test_frame" / f"{video}.csv").write_text("\n".join(rows) + "\n")
        (folder / "test_frame_description" / f"{video}.txt").write_text("\n".join(captions))
    if rules is not None:
        (folder / "rules.txt").write_text(rules)
    return root


WALK = "There are two people. One person is walking on the path, the other is standing."
RUN = "There are two people. One person is walking on the path, the other person is running."


@pytest.fixture()
def toy_root(tmp_path: Path) -> Path:
    return write_dataset(
        tmp_path,
        {
            "test_01": ([WALK] * 20 + [RUN] * 10 + [WALK] * 10, [0] * 20 + [1] * 10 + [0] * 10),
            # One caption short of the labels: aligned on the shorter length.
            "test_02": ([WALK] * 15 + [RUN] * 5, [0] * 15 + [1] * 6),
        },
    )


def test_loader_aligns_on_the_shorter_length(toy_root: Path) -> None:
    videos = load_caption_dataset(toy_root, "toy")
    assert [v.name for v in videos] == ["test_01", "test_02"]
    assert len(videos[1].captions) == len(videos[1].labels) == 20
    assert np.array_equal(videos[0].labels[18:22], [0, 0, 1, 1])


def test_eval_captions_prints_auc_and_cost(
    toy_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "eval",
            "captions",
            "--root",
            str(toy_root),
            "--dataset",
            "toy",
            "--no-progress",
            "--smooth",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "frame AUC    1.000" in out
    assert "method       retrieval" in out
    assert "LLM calls    0.0000 per frame" in out
    assert "the dataset's rules" in out and "(2 anomaly, 2 normal)" in out


def test_eval_captions_json_and_per_frame_file(
    toy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "frames.jsonl"
    code = main(
        [
            "eval",
            "captions",
            "--root",
            str(toy_root),
            "--dataset",
            "toy",
            "--method",
            "keywords",
            "--json",
            "--no-progress",
            "--smooth",
            "2",
            "--out",
            str(out_file),
        ]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("auc", "ap", "llm_calls_per_frame", "method", "dataset", "wall_s"):
        assert key in figures
    assert figures["method"] == "keywords" and figures["dataset"] == "toy"
    assert figures["auc"] == 1.0
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == 60
    assert records[25]["video"] == "test_01" and records[25]["label"] == 1
    assert records[25]["verdict"] == "anomalous"


def test_rules_flag_and_definitions_extend_the_rules(toy_root: Path, tmp_path: Path) -> None:
    rules_file = tmp_path / "mine.txt"
    rules_file.write_text("**Anomaly Human Activities:**\n1. Fighting\n")
    videos = load_caption_dataset(toy_root, "toy")
    rules, how = dataset_rules(
        toy_root, "toy", videos, rules_path=rules_file, definitions=["someone running"]
    )
    assert how == f"rules from {rules_file}"
    assert [r.text for r in rules.anomaly()] == ["Fighting", "someone running"]


def test_missing_rules_without_llm_is_one_sentence(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, {"test_01": ([WALK], [0])}, rules=None)
    videos = load_caption_dataset(root, "toy")
    with pytest.raises(ConfigError, match=r"has no rules\.txt; pass rules_path or an llm"):
        dataset_rules(root, "toy", videos)


@pytest.mark.parametrize(
    ("videos", "message"),
    [
        ({"test_01": ([WALK] * 5, [0] * 8)}, "has 5 captions but .* has 8 labels"),
        ({"test_01": ([], [0])}, "is empty; it needs one per frame"),
        ({"test_01": ([WALK], [2])}, "has label '2'; labels are 0 or 1"),
    ],
)
def test_bad_datasets_are_one_sentence(tmp_path: Path, videos: dict, message: str) -> None:
    root = write_dataset(tmp_path, videos)
    with pytest.raises(InputError, match=message):
        load_caption_dataset(root, "toy")


def test_missing_caption_file_and_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_dataset(tmp_path, {"test_01": ([WALK], [0])})
    (root / "toy" / "test_frame_description" / "test_01.txt").unlink()
    with pytest.raises(InputError, match="The captions of test_01 are missing"):
        load_caption_dataset(root, "toy")
    code = main(["eval", "captions", "--root", str(tmp_path), "--dataset", "nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"vlad: There is no dataset folder {tmp_path / 'nope'}; give a --root folder holding "
        "a 'nope' folder."
    )
    assert "Traceback" not in err


def test_unknown_method_is_refused(toy_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["eval", "captions", "--root", str(toy_root), "--dataset", "toy", "--method", "x"])
    assert stop.value.code == 2
    assert "invalid choice: 'x'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared AnomalyRuler captions not present")
# The shipped defaults' figures (chosen leave-one-dataset-out, bench/bench_deduction.py):
# ped2 0.888, avenue 0.778, shanghaitech 0.842; each bound sits 0.008 below.
@pytest.mark.parametrize(
    ("dataset", "target"), [("ped2", 0.88), ("avenue", 0.77), ("shanghaitech", 0.834)]
)
def test_default_method_reaches_the_targets_on_real_captions(
    dataset: str, target: float, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["eval", "captions", "--root", str(SHARED), "--dataset", dataset, "--json", "--no-progress"]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["auc"] >= target
    assert figures["llm_calls_per_frame"] == 0
    assert figures["wall_s"] < 600


def test_an_interrupted_frame_file_leaves_nothing_behind(
    toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlad.reasoning.deduction import Deduction

    def broken(self: Deduction) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(Deduction, "to_record", broken)
    out_file = tmp_path / "frames.jsonl"
    code = main(
        [
            "eval",
            "captions",
            "--root",
            str(toy_root),
            "--dataset",
            "toy",
            "--method",
            "keywords",
            "--no-progress",
            "--out",
            str(out_file),
        ]
    )
    assert code == 130
    # No frame file, whole or half; only the per-video results kept for a rerun.
    assert sorted(p.name for p in tmp_path.iterdir() if "frames" in p.name) == [
        "frames.jsonl.parts"
    ]
    kept = sorted(p.name for p in (tmp_path / "frames.jsonl.parts").iterdir())
    assert kept == [".vlad-caption-parts", "test_01.json", "test_02.json"]
    assert all(json.loads((tmp_path / "frames.jsonl.parts" / k).read_text()) for k in kept[1:])


def test_eval_captions_skips_a_video_without_captions_and_counts_it(
    toy_root: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    missing = toy_root / "toy" / "test_frame_description" / "test_02.txt"
    missing.unlink()
    argv = ["eval", "captions", "--root", str(toy_root), "--dataset", "toy", "--no-progress"]
    with caplog.at_level("WARNING", logger="vlad"):
        code = main([*argv, "--method", "keywords", "--smooth", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"Skipping video test_02 of dataset 'toy': its caption file {missing} is missing."
    ]
    assert captured.err == ""
    figures = json.loads(captured.out)
    assert (figures["videos"], figures["frames"]) == (1, 40)
    assert figures["skipped_videos"] == 1 and figures["skipped"] == ["test_02"]
    assert figures["auc"] == 1.0
    code = main([*argv, "--method", "keywords", "--smooth", "2"])
    assert "skipped      1 video without captions (test_02)" in capsys.readouterr().out


def test_eval_captions_out_resumes_per_video_and_its_bar_reaches_100(
    toy_root: Path,
    tmp_path: Path,
    tiny_arch: str,
    tiny_weights: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vlad.cli import eval as eval_cli

    bars: list[tuple[Any, list[float]]] = []
    make_bar = eval_cli._bar

    def recording_bar(**options: Any) -> Any:
        bar = make_bar(**options)
        seen: list[float] = []
        update = bar.update

        def noted(n: float = 1) -> Any:
            result = update(n)
            seen.append(bar.n)
            return result

        bar.update = noted
        bars.append((bar, seen))
        return bar

    monkeypatch.setattr(eval_cli, "_bar", recording_bar)
    out_file = tmp_path / "frames.jsonl"
    argv = [
        "eval",
        "captions",
        "--root",
        str(toy_root),
        "--dataset",
        "toy",
        "--embedder",
        f"clip:{tiny_arch}@{tiny_weights}",
        "--smooth",
        "2",
        "--out",
        str(out_file),
    ]
    assert main([*argv, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    frames = out_file.read_text()
    assert first["resumed_videos"] == 0
    bar, seen = bars[-1]
    assert bar.n == eval_cli.BAR_TOTAL and seen == sorted(seen) and len(seen) >= 3

    # As after a kill during the second video: the first one's result is kept.
    (tmp_path / "frames.jsonl.parts" / "test_02.json").unlink()
    out_file.unlink()
    assert main([*argv, "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["resumed_videos"] == 1
    assert second["auc"] == pytest.approx(first["auc"], abs=1e-6)
    assert second["ap"] == pytest.approx(first["ap"], abs=1e-6)
    assert out_file.read_text() == frames
    assert bars[-1][0].n == eval_cli.BAR_TOTAL

    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"resumed      2 videos read back from {out_file}.parts" in printed


def test_eval_captions_refuses_a_parts_path_it_cannot_use_before_any_work(
    toy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "frames.jsonl"
    (tmp_path / "frames.jsonl.parts").write_text("mine")
    argv = ["eval", "captions", "--root", str(toy_root), "--dataset", "toy"]
    code = main([*argv, "--embedder", "no-such-model", "--out", str(out_file)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"vlad: --out keeps each video's result in '{out_file}.parts', which is a file; "
        "move it or choose another --out."
    )
    assert (tmp_path / "frames.jsonl.parts").read_text() == "mine" and not out_file.exists()
