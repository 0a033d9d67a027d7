"""The ``vlad`` entry point: help shows every default, errors are one sentence, exit statuses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vlad.cli.main import EXIT_INTERRUPTED, EXIT_UNUSABLE, build_parser, main
from vlad.cli.options import DefaultsHelpFormatter, VladParser, leaf_parsers


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.extend(_all_parsers(child))
    return found


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._expand_help(action)


def test_every_option_of_every_command_shows_its_default():
    missing = []
    parsers = _all_parsers(build_parser())
    assert len(parsers) >= 13  # vlad, detect, memory (3), demo, rules (3), eval (1) ...
    for parser in parsers:
        assert isinstance(parser, VladParser), parser.prog
        assert parser.formatter_class is DefaultsHelpFormatter, parser.prog
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction) or action.required:
                continue
            if not action.option_strings and action.nargs not in ("?", "*"):
                continue  # a positional the user must give has no default
            text = _help_of(parser, action).lower()
            if "(default" not in text and not text.startswith("default:"):
                missing.append(f"{parser.prog} {action.option_strings or action.dest}")
    assert missing == []


def test_help_text_shows_defaults(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["memory", "build", "--help"])
    assert stop.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "captions wanted (default: 200)" in out
    assert (
        "--alpha ALPHA factor on anomalous similarities stored with the memory (default: 0.95)"
        in (out)
    )
    assert "--llm SPEC offline, transformers:NAME, gguf:FILE, openai:URL#MODEL or vllm:MODEL " in (
        out
    )
    assert "(default: offline)" in out
    assert "round budget (default grows with --size)" in out  # said once, not twice
    assert "(default: grows" not in out


def test_every_command_help_exits_zero(capsys):
    for parser in leaf_parsers(build_parser()):
        argv = parser.prog.split()[1:]
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--help"])
        assert stop.value.code == 0, parser.prog
        assert "--config FILE.yaml" in capsys.readouterr().out


def test_parse_error_is_one_sentence_with_status_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["memory", "show"])
    assert stop.value.code == EXIT_UNUSABLE
    assert capsys.readouterr().err == (
        "vlad: the following arguments are required: DIR; see 'vlad memory show --help'.\n"
    )


def test_library_error_names_the_flag(tmp_path, capsys):
    assert main(["memory", "show", str(tmp_path / "none")]) == EXIT_UNUSABLE
    err = capsys.readouterr().err
    assert err.startswith(f"vlad: Memory folder '{tmp_path / 'none'}' does not exist")
    assert err.count("\n") == 1


def test_unexpected_error_is_one_line_and_debug_shows_it(monkeypatch, tmp_path, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("disk\non fire")

    monkeypatch.setattr("vlad.scoring.memory.MemoryIndex.load", boom)
    assert main(["memory", "show", str(tmp_path)]) == EXIT_UNUSABLE
    assert capsys.readouterr().err == (
        "vlad: unexpected error (RuntimeError: disk on fire); rerun with --debug and report it.\n"
    )
    with pytest.raises(RuntimeError, match="disk"):
        main(["--debug", "memory", "show", str(tmp_path)])


def test_ctrl_c_exits_130(monkeypatch, tmp_path, capsys):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("vlad.scoring.memory.MemoryIndex.load", stop)
    assert main(["memory", "show", str(tmp_path)]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "vlad: stopped; results printed so far are complete.\n"


def test_config_error_with_debug_raises(tmp_path):
    from vlad.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        main(["--debug", "memory", "show", "m", "--config", str(tmp_path / "none.yaml")])


def test_commands_use_the_public_clip_options():
    import vlad.cli.demo
    import vlad.cli.detect

    for module in (vlad.cli.demo, vlad.cli.detect):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "_add_clip_options" not in source
        assert "from vlad.cli.options import add_clip_options" in source
