"""``vlad rules induce|import|show`` and ``vlad detect VIDEO --rules`` as a user runs them."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from tests.reasoning.test_induction import COPYING, REFERENCES, ScriptedLLM, WordEmbedder
from tests.reasoning.test_perception import FrameReader
from tests.shared_data import ANOMALYRULER
from tests.videos import moving_square_frames, write_video
from vlad.cli.main import main
from vlad.reasoning.perception import FrameCaptioner
from vlad.reasoning.rules import load_rules

SHARED = ANOMALYRULER


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The scripted LLM and the word embedder stand in for the models the specs name."""
    made: dict[str, object] = {}

    def chat_backend(spec, *, cache=True):
        made["llm_spec"] = spec
        made["llm"] = ScriptedLLM()
        return made["llm"]

    def frame_captioner(spec, *, prompt="perception", cache=True):
        made["vlm_spec"] = spec
        return FrameCaptioner(FrameReader(), prompt=prompt)

    monkeypatch.setattr("vlad.cli.rules.chat_backend", chat_backend)
    monkeypatch.setattr("vlad.cli.rules.frame_captioner", frame_captioner)
    monkeypatch.setattr("vlad.encoders.text.load_embedder", lambda spec: WordEmbedder())
    return made


@pytest.fixture
def captions(tmp_path: Path) -> Path:
    path = tmp_path / "normal.txt"
    path.write_text("".join(f"caption {i} people walk\n" for i in range(6)))
    return path


def test_induce_from_a_caption_file(fake_models, captions, tmp_path, capsys) -> None:
    out = tmp_path / "rules.yaml"
    status = main(
        [
            "rules",
            "induce",
            "--references",
            str(captions),
            "--scene",
            "a campus walkway",
            "--batches",
            "3",
            "--per-batch",
            "2",
            "--define",
            "a dog on the lawn",
            "--llm",
            "openai:http://127.0.0.1:1/v1#m",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    assert fake_models["llm_spec"] == "openai:http://127.0.0.1:1/v1#m"
    assert printed.startswith(
        f"Wrote {out}: 4 normal and 4 anomaly rules from 6 captions (3 batches of 2; kept "
        "with >= 2 votes, 21 proposed, 2 of 12 answers unusable).\n"
    )
    assert "  anomaly-user-definition-1    a dog on the lawn  (user)" in printed
    rules = load_rules(out)
    assert [r.id for r in rules.anomaly()] == [
        "anomaly-human-activity-1",
        "anomaly-human-activity-2",
        "anomaly-object-1",
        "anomaly-user-definition-1",
    ]
    assert rules.scene == "a campus walkway"
    assert rules.provenance["references"] == [str(captions)]
    # the file is not replaced without --force
    again = main(["rules", "induce", "--references", str(captions), "--out", str(out)])
    assert again == 2
    assert capsys.readouterr().err == (
        f"vlad: {out} already exists; pass --force to replace it or choose another --out.\n"
    )


def test_induce_says_what_the_checks_dropped_and_fails_without_anomaly_rules(
    fake_models, tmp_path, capsys, monkeypatch
) -> None:
    references = tmp_path / "normal.txt"
    references.write_text("".join(f"{c}\n" for c in REFERENCES))
    monkeypatch.setattr(
        "vlad.cli.rules.chat_backend", lambda spec, *, cache=True: ScriptedLLM(COPYING)
    )
    out = tmp_path / "rules.yaml"
    args = ["rules", "induce", "--references", str(references), "--batches", "2"]
    args += ["--per-batch", "2", "--out", str(out), "--no-progress"]
    assert main([*args, "--define", "a person riding a bicycle"]) == 1
    captured = capsys.readouterr()
    drops = (
        "6 copied input, 2 contradicts its label, 2 fragment, 2 prompt echo, "
        "2 restates a normal rule"
    )
    assert captured.err == (
        "vlad: The LLM scripted wrote no anomaly rule that passed the checks and the vote (the "
        f"checks dropped 14 of its rules: {drops}; 0 anomaly rules were left for the vote), so "
        f"{out} holds only your --define rules; use a stronger --llm, lower --min-votes or add "
        "--define rules.\n"
    )
    assert captured.out.startswith(
        f"Wrote {out}: 3 normal and 1 anomaly rules from 2 captions (2 batches of 2; kept with "
        f">= 1 votes, 6 proposed, 4 of 8 answers unusable, 14 rules dropped by the checks: "
        f"{drops}).\n"
    )
    assert [r.text for r in load_rules(out).anomaly()] == ["a person riding a bicycle"]
    # --json: the same status and warning, the rule set on stdout
    assert main([*args, "--define", "a fire", "--force", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("vlad: The LLM scripted wrote no anomaly rule")
    assert json.loads(captured.out)["provenance"]["dropped"]["copied input"] == 6
    # without --define nothing usable is left: one sentence, status 2, no file
    out.unlink()
    assert main(args) == 2
    assert capsys.readouterr().err.startswith(
        "vlad: The LLM scripted produced no anomaly rule that 1 of 2 batches agree on "
        f"(0 proposed, 4 of 8 answers unusable, 14 rules dropped: {drops}); use a stronger LLM"
    )
    assert not out.exists()


def test_induce_from_images_needs_a_vlm(fake_models, tmp_path, capsys) -> None:
    from PIL import Image

    frames = moving_square_frames(6, 48, 64)
    folder = tmp_path / "refs"
    folder.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i}.png")
    args = ["rules", "induce", "--references", str(folder), "--out", str(tmp_path / "r.yaml")]
    assert main([*args, "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith(
        "vlad: The references include images or videos; pass --vlm to describe them"
    )
    assert main([*args, "--vlm", "transformers:tiny", "--batches", "3", "--per-batch", "2"]) == 0
    assert fake_models["vlm_spec"] == "transformers:tiny"
    assert load_rules(tmp_path / "r.yaml").provenance["captions"] == 6


def test_induce_bad_inputs(fake_models, tmp_path, capsys) -> None:
    out = str(tmp_path / "r.yaml")
    assert main(["rules", "induce", "--out", out]) == 2
    assert capsys.readouterr().err == (
        "vlad: vlad rules induce needs --references PATH (normal images, videos or a caption "
        "file); to convert an AnomalyRuler rules.txt use vlad rules import FILE.\n"
    )
    missing = tmp_path / "missing.txt"
    assert main(["rules", "induce", "--references", str(missing), "--out", out]) == 2
    assert capsys.readouterr().err == f"vlad: Reference {missing} does not exist; check the path.\n"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert main(["rules", "induce", "--references", str(empty), "--out", out]) == 2
    assert capsys.readouterr().err.startswith(f"vlad: Caption file {empty} holds no captions;")
    assert not Path(out).exists()


@pytest.mark.skipif(not (SHARED / "avenue" / "rules.txt").is_file(), reason="no shared data")
def test_import_and_show(tmp_path, capsys) -> None:
    out = tmp_path / "avenue.yaml"
    source = SHARED / "avenue" / "rules.txt"
    assert main(["rules", "import", str(source), "--out", str(out), "--scene", "a subway"]) == 0
    assert capsys.readouterr().out == (
        f"Wrote {out}: 20 normal and 21 anomaly rules from {source}.\n"
    )
    assert main(["rules", "show", str(out)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == f"{out}: 41 rules (20 normal, 21 anomaly) for a subway"
    assert shown[1] == f"  imported_from {source}"
    assert shown[2] == "normal / human activity:"
    assert shown[3] == "  normal-human-activity-1      Walking toward stairs"
    assert main(["rules", "show", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "vlad-rules"
    assert len(data["rules"]) == 41
    # 'rules induce --import' duplicated 'rules import' and is gone: one sentence, status 2
    other = tmp_path / "other.yaml"
    with pytest.raises(SystemExit) as stop:
        main(["rules", "induce", "--import", str(source), "--out", str(other)])
    assert stop.value.code == 2
    assert "unrecognized arguments: --import" in capsys.readouterr().err
    assert not other.exists()


def test_show_bad_files(tmp_path, capsys) -> None:
    missing = tmp_path / "none.yaml"
    assert main(["rules", "show", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"vlad: Rules file {missing} does not exist; make one with 'vlad rules induce' or "
        "'vlad rules import'.\n"
    )
    normal_only = tmp_path / "n.yaml"
    normal_only.write_text("rules:\n  - {kind: normal, text: walking}\n")
    assert main(["rules", "show", str(normal_only)]) == 2
    assert "has no anomaly rules; add at least one" in capsys.readouterr().err
    # import with a definition makes a normal-only file usable
    out = tmp_path / "with.yaml"
    assert main(["rules", "import", str(normal_only), "--out", str(out), "--define", "a fire"]) == 0
    assert [r.text for r in load_rules(out).anomaly()] == ["a fire"]


# -- vlad detect VIDEO --rules ------------------------------------------------------------


@pytest.fixture(scope="module")
def walkway(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules_videos")
    return write_video(folder / "walkway.mp4", moving_square_frames(30, 48, 64), fps=10)


def _rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "scene: a walkway\n"
        "rules:\n"
        "  - {id: normal-human-activity-1, kind: normal, category: human activity, "
        "text: people walking}\n"
        "  - {id: anomaly-human-activity-1, kind: anomaly, category: human activity, "
        "text: a person riding a bicycle}\n"
        "  - {id: anomaly-object-1, kind: anomaly, category: object, text: a yellow square}\n"
    )
    return path


def _detect(video: Path, clip_dir: Path, *extra: str) -> list[str]:
    return [
        "detect",
        str(video),
        "--clip-weights",
        f"local-dir:{clip_dir}",
        "--no-progress",
        "--threshold",
        "0",
        "--fps",
        "4",
        *extra,
    ]


def test_detect_with_rules_cites_them(clip_dir, walkway, tmp_path, capsys) -> None:
    rules = _rules_file(tmp_path)
    assert main([*_detect(walkway, clip_dir, "--rules", str(rules), "--json")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["definitions"] == ["a person riding a bicycle", "a yellow square"]
    assert record["intervals"], "threshold 0 opens an interval per rule"
    ids = {
        "a person riding a bicycle": "anomaly-human-activity-1",
        "a yellow square": "anomaly-object-1",
    }
    for interval in record["intervals"]:
        rule = interval["rule"]
        assert rule["id"] == ids[interval["definition"]]
        assert rule["text"] == interval["definition"]
        assert rule["kind"] == "anomaly"
        assert 0 <= rule["frame_index"] < 30
        assert "caption" not in rule
    # text output cites the rule under each interval
    assert main([*_detect(walkway, clip_dir, "--rules", str(rules))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{walkway}\t")
    assert "    rule anomaly-human-activity-1\ta person riding a bicycle" in lines
    assert "    rule anomaly-object-1\ta yellow square" in lines


def test_detect_with_rules_and_a_vlm_shows_captions(
    fake_models, clip_dir, walkway, tmp_path, capsys, monkeypatch
) -> None:
    rules = _rules_file(tmp_path)
    opened: list[str] = []
    import vlad.media.video

    real_open = vlad.media.video.open_video

    def counting_open(source, **kwargs):
        caller = inspect.stack()[1].filename
        if caller.endswith("perception.py"):
            opened.append(str(source))
        return real_open(source, **kwargs)

    monkeypatch.setattr("vlad.media.video.open_video", counting_open)
    args = _detect(walkway, clip_dir, "--rules", str(rules), "--vlm", "transformers:x", "--json")
    assert main(args) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert fake_models["vlm_spec"] == "transformers:x"
    for interval in record["intervals"]:
        rule = interval["rule"]
        # the fake VLM reads the frame number drawn in the frame it was sent
        assert rule["caption"] == f"frame {rule['frame_index']}"
        assert rule["time_s"] == pytest.approx(rule["frame_index"] / 10)
    assert opened == [], "captions used the frames kept while decoding, no second decode"
    # without the kept frames the captioner would have opened the video: the check is live
    FrameCaptioner(FrameReader()).caption_frames(walkway, [3])
    assert opened == [str(walkway)]


def test_detect_rules_bad_inputs(clip_dir, walkway, tmp_path, capsys) -> None:
    missing = tmp_path / "none.yaml"
    assert main([*_detect(walkway, clip_dir, "--rules", str(missing))]) == 2
    assert capsys.readouterr().err == (
        f"vlad: Rules file {missing} does not exist; make one with 'vlad rules induce' or "
        "'vlad rules import'.\n"
    )
    assert main([*_detect(walkway, clip_dir, "--vlm", "transformers:x")]) == 2
    assert capsys.readouterr().err == (
        "vlad: --vlm describes the frames that rules cite; add --rules FILE.\n"
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_offline_llm_induces_rules_that_detect_applies(
    clip_dir, walkway, tmp_path, capsys, monkeypatch
) -> None:
    """The real offline SmolLM2-135M and MiniLM, then the rules applied to a video."""
    monkeypatch.setenv("VLAD_CACHE_DIR", str(tmp_path / "cache"))
    captions = tmp_path / "normal.txt"
    captions.write_text(
        "Two people are walking on the path. There are trees.\n"
        "One person is standing near the door of a building.\n"
    )
    out = tmp_path / "rules.yaml"
    args = [
        "rules",
        "induce",
        "--references",
        str(captions),
        "--llm",
        "offline",
        "--batches",
        "2",
        "--per-batch",
        "1",
        "--rules-per-answer",
        "3",
        "--max-new-tokens",
        "24",
        "--min-votes",
        "1",
        "--define",
        "a person riding a bicycle",
        "--out",
        str(out),
        "--no-progress",
    ]
    status = main(args)
    captured = capsys.readouterr()
    assert captured.out.startswith(f"Wrote {out}: ")
    rules = load_rules(out)
    # exit status 1, with one sentence, exactly when no induced anomaly rule survived
    induced = [r for r in rules.anomaly() if r.source == "induced"]
    assert status == (0 if induced else 1), captured.err
    if not induced:
        # the last line (above it: the GGUF conversion's progress bar, on a fresh cache)
        warning = captured.err.splitlines()[-1]
        assert warning.startswith("vlad: The LLM ") and "holds only your --define rules" in warning
    assert rules.provenance["model"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert rules.provenance["embedder"]
    assert rules.anomaly()[-1].text == "a person riding a bicycle"
    assert main([*_detect(walkway, clip_dir, "--rules", str(out), "--json")]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["definitions"] == [r.text for r in rules.anomaly()]
    cited = {i["rule"]["id"] for i in record["intervals"]}
    assert cited <= {r.id for r in rules.anomaly()}
    assert cited
