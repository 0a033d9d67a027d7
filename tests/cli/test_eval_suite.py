"""``vlad eval run CONFIG`` and ``vlad eval table RESULTS...`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scoring.learned.synthetic import make_synthetic_mvtec
from tests.shared_data import ANOMALYRULER
from vlad.cli.eval_suite import load_suite_config
from vlad.cli.main import build_parser, main
from vlad.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "datasets" / "samples" / "captions"

WALKWAY = f"""\
benchmark: walkway
command: captions
args:
  root: {SAMPLES}
  dataset: walkway
  method: keywords
  no-progress: true
"""


def test_run_evaluates_the_walkway_captions_and_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "walkway.yaml"
    config.write_text(WALKWAY)
    out = tmp_path / "out"
    assert main(["eval", "run", str(config), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"vlad eval run: vlad eval captions --root {SAMPLES} --dataset walkway --method "
        f"keywords --no-progress --out {out / 'frames.jsonl'} --results {out / 'results.json'}"
    )
    assert "frame AUC    1.000" in captured.out  # the captions command's own report
    table = (out / "table.md").read_text()
    assert table in captured.out
    assert table.splitlines()[:5] == [
        "## walkway",
        "",
        "|  | kind | frame AUC | frame AP | source |",
        "|---|---|---:|---:|---|",
        f"| vlad captions keywords | measured | 100.0 | 100.0 | {out / 'results.json'} |",
    ]
    assert "- No published figures for walkway in the anchors file." in table
    record = json.loads((out / "results.json").read_text())
    assert record["task"] == "captions" and record["benchmark"] == "walkway"
    assert record["figures"] == {"mean": {"frame_auc": 1.0, "frame_ap": 1.0}, "per_category": {}}
    assert (record["inputs"], record["scored"], record["failed"]) == (2, 2, 0)
    assert (out / "frames.jsonl").is_file()

    # vlad eval table reads the folder back; --json prints the same rows as data.
    assert main(["eval", "table", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (bench,) = data["benchmarks"]
    assert bench["benchmark"] == "walkway"
    assert bench["rows"][0]["figures"] == {"frame_auc": 100.0, "frame_ap": 100.0}
    assert bench["rows"][0]["kind"] == "measured"

    # With --json, stdout holds only the tables (the command's report goes to stderr).
    assert main(["eval", "run", str(config), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["benchmarks"][0]["benchmark"] == "walkway"
    assert "frame AUC    1.000" in captured.err


def test_the_shipped_walkway_config_runs_as_the_readme_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    out = tmp_path / "walkway"
    assert main(["eval", "run", "eval/walkway-keywords.yaml", "--out", str(out)]) == 0
    assert "| vlad captions keywords | measured | 100.0 | 100.0 |" in capsys.readouterr().out


@pytest.mark.skipif(not (ANOMALYRULER / "ped2").is_dir(), reason="needs ../shared/data")
def test_captions_results_sit_beside_the_video_anchors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ped2.json"
    args = ["eval", "captions", "--root", str(ANOMALYRULER), "--dataset", "ped2"]
    assert main([*args, "--method", "keywords", "--no-progress", "--results", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", "table", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## ped2: UCSD Ped2\n")
    assert "| vlad captions keywords | measured |" in text


def test_table_refuses_a_folder_without_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "table", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"vlad: Folder '{tmp_path}' holds no results.json; give the output folder of a vlad eval "
        "images, videos or captions run.\n"
    )


BAD_CONFIGS = [
    ("benchmark: walkway\ncommand: captions\nmanifest: m.jsonl\n",
     "Eval config '{p}' has unknown key 'manifest'; use benchmark, command, args, description."),
    ("command: captions\n", "Eval config '{p}' needs 'benchmark' (text); see eval/README.md."),
    ("benchmark: mvtec\ncommand: detect\n",
     "Eval config '{p}' has command 'detect'; use one of images, videos, captions."),
    ("benchmark: mvtec\ncommand: images\nargs: [a]\n",
     "'args' of eval config '{p}' must be a mapping of flag: value."),
    ("benchmark: mvtec\ncommand: images\nargs: {out: x}\n",
     "Eval config '{p}' sets --out, which vlad eval run sets itself; remove it (give --out to "
     "vlad eval run instead)."),
    ("benchmark: mvtec\ncommand: images\nargs:\n  manifest: ${VLAD_TEST_UNSET}/mvtec.jsonl\n",
     "Eval config '{p}' uses ${VLAD_TEST_UNSET} but it is not set; export VLAD_TEST_UNSET=FOLDER "
     "(the folder of your prepared manifests, see eval/README.md)."),
    ("benchmark: mvtec\ncommand: images\nargs:\n  manifest: ${VLAD_TEST_DATA}/mvtec.jsonl\n",
     "--manifest '{d}/mvtec.jsonl' of eval config '{p}' does not exist; prepare it with `vlad "
     "data prepare mvtec --root DIR --out {d}/mvtec.jsonl`."),
    ("benchmark: walkway\ncommand: captions\nargs: {root: nowhere, dataset: walkway}\n",
     "--root 'nowhere' of eval config '{p}' does not exist; check the path (relative paths are "
     "read from the folder you run in)."),
    ("benchmark: mvtec\ncommand: images\nargs: {method: {a: 1}}\n",
     "--method in eval config '{p}' must be text, a number, true/false or a list."),
    ("benchmark: [\n", "Config file '{p}' is not valid YAML near line 2; fix it."),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_a_bad_config_stops_before_any_work_in_one_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    message: str,
) -> None:
    monkeypatch.delenv("VLAD_TEST_UNSET", raising=False)
    monkeypatch.setenv("VLAD_TEST_DATA", str(tmp_path / "data"))
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    assert main(["eval", "run", str(config), "--out", str(out)]) == 2
    expected = message.replace("{p}", str(config)).replace("{d}", str(tmp_path / "data"))
    assert capsys.readouterr().err == f"vlad: {expected}\n"
    assert not out.exists()


def test_a_broken_anchors_file_stops_the_run_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "walkway.yaml"
    config.write_text(WALKWAY)
    anchors = tmp_path / "anchors.yaml"
    anchors.write_text("vlad_anchors: 1\nanchors:\n  - {paper: P}\n")
    out = tmp_path / "out"
    assert main(["eval", "run", str(config), "--out", str(out), "--anchors", str(anchors)]) == 2
    assert capsys.readouterr().err == (
        f"vlad: Row 1 of '{anchors}' has no 'method'; every figure needs paper, method, "
        "benchmark, metric, value, source, checked.\n"
    )
    assert not out.exists()


def test_a_failing_command_returns_its_status_without_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "walkway.yaml"
    config.write_text(WALKWAY.replace("method: keywords", "videos: 0"))
    assert main(["eval", "run", str(config), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "vlad: --videos must be at least 1, got 0.\n" in captured.err
    assert "## walkway" not in captured.out


def test_config_values_become_long_flags() -> None:
    config = load_suite_config(REPO / "eval" / "walkway-keywords.yaml")
    assert config.argv(Path("o")) == [
        "eval", "captions", "--root", "datasets/samples/captions", "--dataset", "walkway",
        "--method", "keywords", "--no-progress", "--out", "o/frames.jsonl", "--results",
        "o/results.json",
    ]  # fmt: skip


SHIPPED = sorted(p for p in (REPO / "eval").glob("*.yaml") if p.name != "anchors.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_parses_into_its_command(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the data in place, each config's args are flags its command knows."""
    for name in ("VLAD_DATA", "VLAD_PROMPTS", "VLAD_CAPTIONS"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
        (tmp_path / name.lower()).mkdir()
    for benchmark in ("mvtec", "visa", "ped2", "avenue", "shanghaitech", "ubnormal",
                      "ucf_crime", "xd_violence"):  # fmt: skip
        (tmp_path / "vlad_data" / f"{benchmark}.jsonl").write_text("")
    monkeypatch.chdir(REPO)
    config = load_suite_config(path)
    assert path.stem.startswith(config.benchmark.replace("_", "-"))
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices["eval"]._subparsers  # type: ignore[union-attr]
    if config.command not in commands._group_actions[0].choices:
        pytest.skip(f"vlad eval {config.command} is not in this build yet")
    args = parser.parse_args(config.argv(tmp_path / "out"))
    assert args.eval_command == config.command


def test_a_config_that_is_missing_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_suite_config(tmp_path / "none.yaml")
    assert str(caught.value) == (
        f"Config file '{tmp_path / 'none.yaml'}' does not exist; check the path."
    )


def test_the_two_mvtec_commands_give_a_per_category_table_beside_the_papers(
    tmp_path: Path,
    clip_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """eval/README.md's MVTec AD recipe, on a synthetic replica with a tiny random CLIP."""
    root = make_synthetic_mvtec(tmp_path / "mvtec_ad", size=32, train_good=1, test_good=2,
                                per_defect=1)  # fmt: skip
    data = tmp_path / "data"
    assert main(["data", "prepare", "mvtec", "--root", str(root), "--out",
                 str(data / "mvtec.jsonl")]) == 0  # fmt: skip
    config = tmp_path / "mvtec-winclip.yaml"
    config.write_text(
        (REPO / "eval" / "mvtec-winclip.yaml").read_text()
        + f"  clip-weights: local-dir:{clip_dir}\n  map-size: 16\n  no-progress: true\n"
    )
    monkeypatch.setenv("VLAD_DATA", str(data))
    capsys.readouterr()
    out = tmp_path / "run"
    assert main(["eval", "run", str(config), "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert table in capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0] == "## mvtec: MVTec AD"
    assert lines[4].startswith("| vlad images winclip | measured | ")
    assert [line.split(" | ")[0] for line in lines[5:8]] == [
        "| AnomalyCLIP (Zhou et al., ICLR 2024)",
        "| WinCLIP (Jeong et al., CVPR 2023)",
        "| AdaCLIP (Cao et al., ECCV 2024)",
    ]
    assert "### mvtec per category" in lines
    categories = [
        line.split(" | ")[0] for line in lines if line.startswith(("| bottle", "| carpet"))
    ]
    assert categories == ["| bottle", "| carpet"]


def test_the_datasets_readme_line_of_each_benchmark_agrees_with_vlad_data_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vlad.data.registry import BENCHMARKS

    lines = {
        line.split(" | ")[0].strip("|` "): line
        for line in (REPO / "datasets" / "README.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for name, benchmark in BENCHMARKS.items():
        assert main(["data", "info", name]) == 0
        info = dict(
            line.split(None, 1) if not line.startswith("get it") else ("get", line[6:].strip())
            for line in capsys.readouterr().out.splitlines()[1:]
            if line.strip()
        )
        cells = [cell.strip() for cell in lines[name].strip("|").split(" | ")]
        assert cells[1] == benchmark.title
        assert cells[3] == info["licence"] == benchmark.licence
        assert cells[4].split()[0] == info["get"].split()[0] == benchmark.url.split()[0]


def test_run_writes_under_out_eval_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "walkway.yaml").write_text(WALKWAY)
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "run", "walkway.yaml"]) == 0
    assert (tmp_path / "out" / "eval" / "walkway" / "results.json").is_file()
    assert "| vlad captions keywords | measured |" in capsys.readouterr().out


def test_a_flag_the_command_does_not_have_is_named_by_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "walkway.yaml"
    config.write_text(WALKWAY + "  bogus: 1\n")
    assert main(["eval", "run", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "vlad: unrecognized arguments: --bogus 1; see 'vlad eval captions --help'."
