"""``--config FILE.yaml`` for every command, and ``run.yaml`` beside every output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.cli.test_eval import write_dataset
from tests.reasoning.test_induction import ScriptedLLM, WordEmbedder
from vlad.cli.main import build_parser, main
from vlad.cli.options import leaf_parsers, parse_args
from vlad.errors import ConfigError
from vlad.utils.runinfo import RUN_FILE, package_versions

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

RULES_TEXT = """**Anomaly Human Activities:**
1. Running or jumping
2. Riding a bicycle

**Normal Human Activities:**
1. Walking on the path
"""


def write_config(folder: Path, data: dict, name: str = "settings.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def parse(argv: list[str]):
    return parse_args(build_parser(), argv)


def read_run(where: Path) -> dict:
    """The run record in an output folder, or an output file's own record (NAME.run.yaml)."""
    path = where / RUN_FILE if where.is_dir() else where.with_name(f"{where.stem}.{RUN_FILE}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- every command takes --config --------------------------------------------------------


def test_every_command_has_config():
    progs = []
    for parser in leaf_parsers(build_parser()):
        assert any("--config" in a.option_strings for a in parser._actions), parser.prog
        progs.append(parser.prog)
    assert set(progs) >= {
        "vlad detect",
        "vlad demo",
        "vlad memory build",
        "vlad memory show",
        "vlad memory query",
        "vlad rules induce",
        "vlad rules import",
        "vlad rules show",
        "vlad eval captions",
    }


def test_detect_config_long_names_and_sections(tmp_path):
    config = write_config(
        tmp_path,
        {
            "class-name": "bottle",
            "batch_size": 4,
            "define": ["a crack", "a fight"],
            "json": True,
            "clip": {"arch": "ViT-B-32", "weights": "w.safetensors", "device": "cpu"},
            "video": {"sample_fps": 4, "smoothing_sigma_s": 0.5, "frames_fps": 25},
            "image": {"threshold": 0.7},
        },
    )
    args = parse(["detect", "a.png", "--config", str(config)])
    assert args.class_name == "bottle"
    assert args.batch_size == 4
    assert args.define == ["a crack", "a fight"]
    assert args.json is True
    assert (args.clip, args.clip_weights, args.device) == ("ViT-B-32", "w.safetensors", "cpu")
    assert (args.fps, args.smooth, args.frames_fps) == (4.0, 0.5, 25.0)
    assert isinstance(args.fps, float)
    assert args.threshold == 0.7
    assert args.paths == ["a.png"]
    # untouched options keep their defaults
    assert args.segment_seconds == 2.0 and args.prompts == "winclip"


def test_flags_override_the_file(tmp_path):
    config = write_config(
        tmp_path, {"fps": 4, "define": ["a fight"], "threshold": 0.7, "json": True}
    )
    args = parse(["detect", "a.png", "--config", str(config), "--fps", "1", "--define", "a fall"])
    assert args.fps == 1.0
    assert args.define == ["a fall"]  # the flag replaces the file's list, not adds to it
    assert args.threshold == 0.7
    assert args.json is True


def test_pipeline_section_with_nested_sections(tmp_path):
    config = write_config(
        tmp_path, {"pipeline": {"batch_size": 2, "video": {"sample_fps": 5}, "clip": {"arch": "X"}}}
    )
    args = parse(["detect", "a.png", "--config", str(config)])
    assert (args.batch_size, args.fps, args.clip) == (2, 5.0, "X")


def test_positionals_and_required_options_from_the_file(tmp_path):
    config = write_config(tmp_path, {"paths": ["a.png", "b.png"]})
    assert parse(["detect", "--config", str(config)]).paths == ["a.png", "b.png"]
    config = write_config(tmp_path, {"from_captions": "c.jsonl", "out": "mem", "alpha": 0.9})
    args = parse(["memory", "build", "--config", str(config)])
    assert args.from_captions == Path("c.jsonl") and args.out == Path("mem")
    assert args.alpha == 0.9 and args.scene is None
    config = write_config(tmp_path, {"dir": "mem", "text": "a car", "k": 3})
    args = parse(["memory", "query", "--config", str(config)])
    assert (args.dir, args.text, args.k) == (Path("mem"), "a car", 3)
    config = write_config(tmp_path, {"dir": "mem", "examples": 5, "json": True})
    args = parse(["memory", "show", "--config", str(config)])
    assert (args.dir, args.examples, args.json) == (Path("mem"), 5, True)


def test_memory_build_recall_section(tmp_path):
    config = write_config(
        tmp_path,
        {"recall": {"scene": "a walkway", "size": 40, "max_rounds": 3, "definitions": ["a car"]}},
    )
    args = parse(["memory", "build", "--config", str(config), "--out", "m"])
    assert (args.scene, args.size, args.rounds, args.define) == ("a walkway", 40, 3, ["a car"])


def test_rules_commands_config(tmp_path):
    config = write_config(
        tmp_path,
        {
            "references": ["a.txt", "b.txt"],
            "out": "r.yaml",
            "induction": {"batches": 5, "per_batch": 4, "prompt": "mine.yaml", "seed": 2},
            "no-cache": True,
        },
    )
    args = parse(["rules", "induce", "--config", str(config)])
    assert args.references == ["a.txt", "b.txt"] and args.out == Path("r.yaml")
    assert (args.batches, args.per_batch, args.induction_prompt, args.seed) == (
        5,
        4,
        "mine.yaml",
        2,
    )
    assert args.no_cache is True
    config = write_config(tmp_path, {"file": "rules.txt", "out": "r.yaml", "scene": "a subway"})
    args = parse(["rules", "import", "--config", str(config), "--scene", "a mall"])
    assert (args.file, args.out, args.scene) == (Path("rules.txt"), Path("r.yaml"), "a mall")
    config = write_config(tmp_path, {"file": "r.yaml", "json": True})
    args = parse(["rules", "show", "--config", str(config)])
    assert (args.file, args.json) == (Path("r.yaml"), True)


def test_eval_captions_config_and_deduction_section(tmp_path):
    config = write_config(
        tmp_path,
        {
            "root": "data",
            "dataset": "ped2",
            "deduction": {"method": "keywords", "smooth": 4, "scene_prior": False},
            "videos": 2,
        },
    )
    args = parse(["eval", "captions", "--config", str(config)])
    assert (args.root, args.dataset, args.method) == (Path("data"), "ped2", "keywords")
    assert (args.smooth, args.no_scene_prior, args.videos) == (4.0, True, 2)


def test_demo_config(tmp_path):
    config = write_config(
        tmp_path,
        {
            "port": 8000,
            "llm": "none",
            "limits": {"max_upload_mb": 20, "concurrency": 2},
            "video": {"sample_fps": 1},
        },
    )
    args = parse(["demo", "--config", str(config)])
    assert (args.port, args.llm, args.max_upload_mb, args.concurrency) == (8000, "none", 20.0, 2)
    assert args.fps == 1.0


# --- bad files: one sentence naming the setting --------------------------------------------


def test_unknown_setting_names_it_and_the_known_ones(tmp_path):
    config = write_config(tmp_path, {"fsp": 3})
    with pytest.raises(ConfigError) as info:
        parse(["memory", "show", "m", "--config", str(config)])
    assert str(info.value) == (
        f"Config file '{config}' has an unknown setting 'fsp' for 'vlad memory show'; known "
        "ones are dir, examples, json."
    )
    with pytest.raises(
        ConfigError,
        match=r"unknown setting 'fsp' for 'vlad detect'; known ones "
        r"are batch-size, class-name, clip, .* \(and the sections pipeline, clip, "
        r"video, image, perception\)\.",
    ):
        parse(["detect", "a.png", "--config", str(config)])


def test_unknown_section_and_section_field(tmp_path):
    config = write_config(tmp_path, {"video": {"fps": 3}})
    with pytest.raises(
        ConfigError,
        match=r"Unknown setting\(s\) fps for section 'video' of config file "
        rf"'{re.escape(str(config))}'; known ones are batch_size, definitions,",
    ):
        parse(["detect", "a.png", "--config", str(config)])
    config = write_config(tmp_path, {"video": {"sample_fps": 3}})
    with pytest.raises(ConfigError, match="unknown setting 'video' for 'vlad memory show'"):
        parse(["memory", "show", "m", "--config", str(config)])
    config = write_config(tmp_path, {"video": {"merge_gap_s": 1.0}})
    with pytest.raises(
        ConfigError,
        match=r"Setting 'video.merge_gap_s' of config file .* has no option in 'vlad detect'; "
        "remove it",
    ):
        parse(["detect", "a.png", "--config", str(config)])


@pytest.mark.parametrize(
    "data, message",
    [
        ({"fps": "fast"}, "Setting 'fps' of config file '{}' must be a number, got 'fast'."),
        ({"batch-size": 2.5}, "Setting 'batch-size' of config file '{}' must be a whole number"),
        ({"json": "yes"}, "Setting 'json' of config file '{}' must be true or false, got 'yes'."),
        ({"threshold": [1, 2]}, "Setting 'threshold' of config file '{}' must be a single value"),
        (
            {"fps": 2, "video": {"sample_fps": 3}},
            "Config file '{}' sets --fps twice ('fps' and "
            "'video.sample_fps') to different values; keep one.",
        ),
    ],
)
def test_values_of_the_wrong_kind(tmp_path, data, message):
    config = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        parse(["detect", "a.png", "--config", str(config)])
    assert str(info.value).startswith(message.format(config))


def test_choices_are_checked(tmp_path):
    config = write_config(tmp_path, {"method": "magic", "root": "r", "dataset": "d"})
    with pytest.raises(ConfigError, match="must be one of keywords, retrieval, hybrid, llm"):
        parse(["eval", "captions", "--config", str(config)])


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "Config file '{}' does not exist; check the path."),
        ("- a\n- b\n", "Config file '{}' must hold a mapping of settings."),
        ("fps: [1\n", "Config file '{}' is not valid YAML near line 2; fix it."),
    ],
)
def test_bad_config_file_through_main(tmp_path, capsys, text, message):
    config = tmp_path / "c.yaml"
    if text is not None:
        config.write_text(text, encoding="utf-8")
    assert main(["memory", "show", "m", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.err == "vlad: " + message.format(config) + "\n"
    assert "Traceback" not in captured.err and captured.out == ""


def test_unknown_setting_through_main(tmp_path, capsys):
    config = write_config(tmp_path, {"smoothing": 2})
    assert main(["rules", "show", "r.yaml", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"vlad: Config file '{config}' has an unknown setting 'smoothing' for 'vlad rules "
        "show'; known ones are file, json.\n"
    )


# --- run.yaml beside every output -------------------------------------------------------------


def _check_run(folder: Path, argv: list[str]) -> dict:
    run = read_run(folder)
    assert list(run) == ["command", "settings", "versions", "started", "ended"]
    assert run["command"] == ["vlad", *argv]
    assert run["versions"] == package_versions()
    assert ISO.match(run["started"]) and ISO.match(run["ended"])
    assert run["started"] <= run["ended"]
    assert "handler" not in run["settings"]
    assert not any(key.startswith("_") for key in run["settings"])
    return run


def test_rules_import_writes_run_yaml_with_the_resolved_settings(tmp_path, capsys):
    source = tmp_path / "rules.txt"
    source.write_text(RULES_TEXT, encoding="utf-8")
    out = tmp_path / "out" / "walkway.yaml"
    config = write_config(tmp_path, {"scene": "a campus walkway", "out": str(out)})
    argv = ["rules", "import", str(source), "--config", str(config), "--define", "a car"]
    assert main(argv) == 0
    run = _check_run(out, argv)
    assert run["settings"] == {
        "command": "rules",
        "config": str(config),
        "debug": False,
        "define": ["a car"],
        "file": str(source),
        "force": False,
        "json": False,
        "out": str(out),
        "rules_command": "import",
        "scene": "a campus walkway",
    }
    assert sorted(p.name for p in out.parent.iterdir()) == ["walkway.run.yaml", "walkway.yaml"]


def test_no_run_yaml_when_the_command_fails(tmp_path, capsys):
    out = tmp_path / "out" / "r.yaml"
    assert main(["rules", "import", str(tmp_path / "none.txt"), "--out", str(out)]) == 2
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / RUN_FILE).exists()


def test_rules_induce_writes_run_yaml(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("vlad.cli.rules.chat_backend", lambda spec, cache=True: ScriptedLLM())
    monkeypatch.setattr("vlad.encoders.text.load_embedder", lambda spec: WordEmbedder())
    captions = tmp_path / "normal.txt"
    captions.write_text("".join(f"caption {i} people walk\n" for i in range(6)))
    out = tmp_path / "rules" / "r.yaml"
    config = write_config(
        tmp_path, {"induction": {"batches": 3, "per_batch": 2}, "no_progress": True}
    )
    argv = ["rules", "induce", "--references", str(captions), "--out", str(out)]
    argv += ["--config", str(config)]
    assert main(argv) == 0
    run = _check_run(out, argv)
    assert (run["settings"]["batches"], run["settings"]["per_batch"]) == (3, 2)
    assert run["settings"]["references"] == [str(captions)]


def test_memory_build_writes_run_yaml_in_the_memory_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "vlad.encoders.text.load_embedder", lambda spec, device="auto": WordEmbedder()
    )
    captions = tmp_path / "captions.jsonl"
    captions.write_text(
        json.dumps({"text": "people walking", "label": "normal"})
        + "\n"
        + json.dumps({"text": "a car on the path", "label": "anomalous"})
        + "\n"
    )
    out = tmp_path / "memory"
    config = write_config(tmp_path, {"from_captions": str(captions), "alpha": 0.9})
    argv = ["memory", "build", "--config", str(config), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    run = _check_run(out, argv)
    assert run["settings"]["alpha"] == 0.9
    assert run["settings"]["from_captions"] == str(captions)
    assert run["settings"]["out"] == str(out)
    assert main(["memory", "show", str(out), "--json"]) == 0  # the memory still loads


def test_eval_captions_out_writes_run_yaml(tmp_path, capsys):
    root = write_dataset(
        tmp_path / "data",
        {"test_01": (["walking on the path"] * 4 + ["running fast"] * 2, [0] * 4 + [1] * 2)},
    )
    out = tmp_path / "results" / "frames.jsonl"
    config = write_config(tmp_path, {"deduction": {"method": "keywords", "smooth": 0}})
    argv = ["eval", "captions", "--root", str(root), "--dataset", "toy", "--out", str(out)]
    argv += ["--config", str(config), "--no-progress", "--json"]
    assert main(argv) == 0
    run = _check_run(out, argv)
    assert (run["settings"]["method"], run["settings"]["smooth"]) == ("keywords", 0.0)
    # the per-video parts kept for a resumed run sit beside the output, under its name
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "frames.jsonl",
        "frames.jsonl.parts",
        "frames.run.yaml",
    ]


def test_eval_captions_without_out_writes_no_run_yaml(tmp_path, capsys, monkeypatch):
    root = write_dataset(
        tmp_path / "data",
        {"test_01": (["walking on the path"] * 4 + ["running fast"] * 2, [0] * 4 + [1] * 2)},
    )
    monkeypatch.chdir(tmp_path)
    argv = ["eval", "captions", "--root", str(root), "--dataset", "toy", "--method", "keywords"]
    assert main([*argv, "--no-progress"]) == 0
    assert not list(tmp_path.rglob(f"*{RUN_FILE}"))


def test_detect_map_out_writes_run_yaml(clip_dir, tmp_path, capsys):
    from tests.conftest import make_image

    image = tmp_path / "bottle.png"
    make_image(40, 50, seed=1).save(image)
    maps = tmp_path / "maps"
    config = write_config(
        tmp_path,
        {"clip": {"weights": f"local-dir:{clip_dir}"}, "class_name": "bottle", "threshold": 0.3},
    )
    argv = ["detect", str(image), "--config", str(config), "--map-out", str(maps)]
    argv += ["--no-progress", "--json"]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["threshold"] == 0.3
    run = _check_run(maps, argv)
    assert run["settings"]["clip_weights"] == f"local-dir:{clip_dir}"
    assert run["settings"]["class_name"] == "bottle"
    assert run["settings"]["paths"] == [str(image)]
    assert RUN_FILE in {p.name for p in maps.iterdir()}


def test_detect_video_plot_writes_run_yaml_beside_the_plot(clip_dir, tmp_path, capsys):
    from tests.videos import moving_square_frames, write_frame_folder

    frames = write_frame_folder(tmp_path / "clip", moving_square_frames(12, 32, 32))
    plot = tmp_path / "plots" / "timeline.png"
    plot.parent.mkdir()
    config = write_config(
        tmp_path,
        {
            "clip": {"weights": f"local-dir:{clip_dir}"},
            "video": {"frames_fps": 4, "sample_fps": 2, "definitions": ["a bicycle"]},
            "plot": str(plot),
            "no-progress": True,
        },
    )
    argv = ["detect", str(frames), "--config", str(config), "--json"]
    assert main(argv) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["sample_fps"] == 2.0
    run = _check_run(plot, argv)
    assert (run["settings"]["frames_fps"], run["settings"]["fps"]) == (4.0, 2.0)
    assert run["settings"]["define"] == ["a bicycle"]
    assert run["settings"]["plot"] == str(plot)
    assert sorted(p.name for p in plot.parent.iterdir()) == ["timeline.png", "timeline.run.yaml"]


def test_a_users_own_run_yaml_is_never_overwritten(clip_dir, tmp_path, capsys):
    from tests.conftest import make_image

    image = tmp_path / "bottle.png"
    make_image(40, 50, seed=1).save(image)
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / RUN_FILE).write_text("my own notes: keep me\n", encoding="utf-8")
    argv = ["detect", str(image), "--clip-weights", f"local-dir:{clip_dir}", "--map-out"]
    argv += [str(maps), "--no-progress"]
    assert main(argv) == 0
    assert (maps / RUN_FILE).read_text(encoding="utf-8") == "my own notes: keep me\n"
    assert "not a vlad run record" in capsys.readouterr().err
    assert main(argv) == 0  # a record vlad wrote itself is replaced by the next run's
    (maps / RUN_FILE).unlink()
    assert main(argv) == 0
    first = read_run(maps)["started"]
    assert main(argv) == 0
    assert read_run(maps)["started"] >= first
