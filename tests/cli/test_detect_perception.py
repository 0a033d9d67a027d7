"""``vlad detect VIDEO --rules FILE --vlm SPEC --perception every|budget`` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.perception_helpers import (
    EVENT_CAPTION,
    RULES_YAML,
    ScriptedDescriber,
    WordEmbedder,
    build_tiny_vlm,
    event_script,
    event_video,
)
from vlad.cli.main import main
from vlad.reasoning.perception import FrameCaptioner

RIDE = "anomaly-human-activity-1"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return event_video(tmp_path_factory.mktemp("detect_perception") / "event.mp4", 40, 15, 25)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML)
    return path


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The scripted describer stands in for --vlm, the word embedder for MiniLM."""
    made: dict[str, object] = {}

    def frame_captioner(spec, *, prompt="perception", cache=True):
        made["spec"] = spec
        made["describer"] = describer = ScriptedDescriber(event_script(15, 25))
        return FrameCaptioner(describer, prompt=prompt)

    monkeypatch.setattr("vlad.cli.rules.frame_captioner", frame_captioner)
    monkeypatch.setattr("vlad.encoders.text.load_embedder", lambda spec: WordEmbedder())
    return made


def detect(video: Path, clip_dir: Path, rules: Path, *extra: str) -> list[str]:
    return [
        "detect",
        str(video),
        "--clip-weights",
        f"local-dir:{clip_dir}",
        "--no-progress",
        "--fps",
        "10",
        "--smooth",
        "0",
        "--rules",
        str(rules),
        *extra,
    ]


def rule_intervals(record: dict) -> list[dict]:
    return [i for i in record["intervals"] if i.get("rule", {}).get("source") == "perception"]


def test_every_and_budget_give_the_same_cited_interval(
    scripted, video, clip_dir, rules, capsys
) -> None:
    found = {}
    for mode in ("every", "budget"):
        args = detect(video, clip_dir, rules, "--vlm", "openai:http://x#m", "--json")
        assert main([*args, "--perception", mode, "--perception-fps", "10"]) == 0
        captured = capsys.readouterr()
        (record,) = json.loads(captured.out)
        found[mode] = record
        assert scripted["spec"] == "openai:http://x#m"
        [interval] = rule_intervals(record)
        assert (interval["start_s"], interval["end_s"]) == (1.5, 2.5)
        assert interval["definition"] == "a person riding a bicycle"
        rule = interval["rule"]
        assert (rule["id"], rule["clause"], rule["caption"]) == (
            RIDE,
            "a person is riding a bicycle",
            EVENT_CAPTION,
        )
        assert rule["reason"].startswith("'a person is riding a bicycle' matches the anomaly rule")
        calls = record["perception"]["vlm_calls_per_frame"]
        assert captured.err == (
            f"vlad: {video}: the VLM described {record['perception']['described']} of 40 "
            f"sampled frames ({calls:.3f} calls per sampled frame)\n"
        )
    assert found["every"]["intervals"] == [
        {**i, "rule": found["every"]["intervals"][k]["rule"]}
        for k, i in enumerate(found["budget"]["intervals"])
    ]
    assert found["every"]["perception"]["vlm_calls_per_frame"] == 1.0
    assert found["budget"]["perception"]["vlm_calls_per_frame"] == 0.1
    assert len(scripted["describer"].asked) == 4  # type: ignore[attr-defined]
    normal = [
        f for f in found["budget"]["perception"]["frame_judgements"] if f["verdict"] == "normal"
    ]
    assert len(normal) == 30 and {tuple(f["rules"]) for f in normal} == {
        ("normal-human-activity-1",)
    }


def test_text_output_cites_rule_and_clause(scripted, video, clip_dir, rules, capsys) -> None:
    args = detect(video, clip_dir, rules, "--vlm", "transformers:x", "--perception", "every")
    assert main([*args, "--perception-fps", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("  0:01.5-0:02.5\tpeak 1.000\ta person riding a bicycle")
    assert lines[at + 1 : at + 4] == [
        f"    rule {RIDE}\ta person riding a bicycle",
        "    clause a person is riding a bicycle",
        f"    seen 0:01.5\t{EVENT_CAPTION}",
    ]


def test_config_file_sets_the_perception(scripted, video, clip_dir, rules, tmp_path, capsys):
    config = tmp_path / "detect.yaml"
    config.write_text("vlm: transformers:x\nperception: {mode: budget, fps: 5, budget: 0.2}\n")
    assert main([*detect(video, clip_dir, rules, "--config", str(config), "--json")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert {k: record["perception"][k] for k in ("mode", "fps", "budget", "frames")} == {
        "mode": "budget",
        "fps": 5.0,
        "budget": 0.2,
        "frames": 20,
    }
    flat = tmp_path / "flat.yaml"
    flat.write_text("vlm: transformers:x\nperception: every\nperception-fps: 2\n")
    assert main([*detect(video, clip_dir, rules, "--config", str(flat), "--json")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["perception"]["mode"], record["perception"]["frames"]) == ("every", 8)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--perception", "every"],
            "--perception every describes frames with a vision-language model; add --vlm SPEC.",
        ),
        (
            ["--perception", "budget", "--vlm", "transformers:x", "--no-rules"],
            "--perception budget judges frame descriptions against rules; add --rules FILE.",
        ),
        (
            ["--perception", "budget", "--vlm", "transformers:x", "--perception-budget", "1.5"],
            "--perception-budget must lie in (0, 1] VLM calls per sampled frame, got 1.5.",
        ),
        (
            ["--perception", "budget", "--vlm", "transformers:x", "--perception-budget", "0"],
            "--perception-budget must lie in (0, 1] VLM calls per sampled frame, got 0.0.",
        ),
        (
            ["--perception", "every", "--vlm", "transformers:x", "--perception-fps", "0"],
            "--perception-fps must be a number of frames per second above 0, got 0.0.",
        ),
        (
            ["--perception", "every", "--vlm", "transformers:x", "--perception-fps", "-2"],
            "--perception-fps must be a number of frames per second above 0, got -2.0.",
        ),
        (
            ["--perception-fps", "2"],
            "--perception-fps only applies with --perception every|budget; add --perception "
            "or leave it out.",
        ),
        (
            ["--vlm", "transformers:x", "--perception-fps", "1", "--perception-budget", "0.1"],
            "--perception-fps and --perception-budget only apply with --perception "
            "every|budget; add --perception or leave them out.",
        ),
    ],
)
def test_bad_flag_combinations(scripted, video, clip_dir, rules, capsys, extra, message) -> None:
    args = detect(video, clip_dir, rules, *[e for e in extra if e != "--no-rules"])
    if "--no-rules" in extra:
        at = args.index("--rules")
        del args[at : at + 2]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == f"vlad: {message}\n"
    assert "describer" not in scripted, "nothing was described"


def test_batch_takes_the_same_flags(scripted, video, clip_dir, rules, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = [
        "batch",
        str(video),
        "--out",
        str(out),
        "--clip-weights",
        f"local-dir:{clip_dir}",
        "--fps",
        "10",
        "--smooth",
        "0",
        "--rules",
        str(rules),
        "--vlm",
        "transformers:x",
        "--perception",
        "budget",
        "--perception-fps",
        "10",
        "--no-progress",
        "--workers",
        "0",
    ]
    assert main(args) == 0
    [result] = list((out / "results").glob("*.json"))
    record = json.loads(result.read_text())
    assert record["perception"]["vlm_calls_per_frame"] == 0.1
    [interval] = rule_intervals(record)
    assert (interval["start_s"], interval["end_s"], interval["rule"]["id"]) == (1.5, 2.5, RIDE)
    # a changed budget is a changed setting: the input runs again
    assert main([*args, "--perception-budget", "0.2"]) == 0
    record = json.loads(result.read_text())
    assert record["perception"]["vlm_calls_per_frame"] == 0.2
    assert main([*args, "--perception-budget", "2"]) == 2
    assert capsys.readouterr().err.endswith(
        "vlad: --perception-budget must lie in (0, 1] VLM calls per sampled frame, got 2.0.\n"
    )


# -- a real (tiny, random) vision-language model ------------------------------------------


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("detect_tiny_vlm"))


@pytest.mark.parametrize("mode", ["every", "budget"])
def test_tiny_vlm_end_to_end(
    mode, tiny_vlm_dir, video, clip_dir, rules, tmp_path, capsys, monkeypatch
) -> None:
    """The real captioner, transformers backend and cache, on a random tiny LLaVA."""
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("vlad.encoders.text.load_embedder", lambda spec: WordEmbedder())
    prompt = tmp_path / "short.yaml"
    prompt.write_text("question: what is the person doing\nmax_new_tokens: 6\n")
    args = detect(
        video,
        clip_dir,
        rules,
        "--vlm",
        f"transformers:{tiny_vlm_dir}",
        "--perception-prompt",
        str(prompt),
        "--perception",
        mode,
        "--perception-fps",
        "5",
        "--json",
    )
    assert main(args) == 0
    (record,) = json.loads(capsys.readouterr().out)
    perception = record["perception"]
    assert perception["frames"] == 20
    assert perception["described"] == (20 if mode == "every" else 2)
    assert perception["sent_to_model"] == perception["described"]
    judged = perception["frame_judgements"]
    assert len(judged) == 20
    for frame in judged:
        assert frame["verdict"] in ("normal", "anomalous")
        assert isinstance(frame["reason"], str) and frame["reason"]
        if frame["described"]:
            assert isinstance(frame["caption"], str)
    for interval in rule_intervals(record):
        assert interval["rule"]["id"] == RIDE and interval["rule"]["caption"] is not None
    # answers are cached per frame: a rerun sends nothing to the model
    assert main(args) == 0
    (again,) = json.loads(capsys.readouterr().out)
    assert again["perception"]["sent_to_model"] == 0
    assert again["perception"]["frame_judgements"] == judged


def test_the_bar_shows_the_frames_described(scripted, video, clip_dir, rules, capsys) -> None:
    args = [a for a in detect(video, clip_dir, rules, "--vlm", "x:y") if a != "--no-progress"]
    assert main([*args, "--perception", "every", "--perception-fps", "10", "--json"]) == 0
    err = capsys.readouterr().err
    assert "describing frames" in err and "describing frames 40/40" in err
    assert scripted["describer"].calls == 5  # type: ignore[attr-defined]
