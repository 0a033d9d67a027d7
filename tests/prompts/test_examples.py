"""The worked examples of prompts/ load through the real loaders and change what the CLI does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_image
from tests.videos import moving_square_frames, write_video
from vlad.cli.main import main
from vlad.scoring.prompts import build_ensemble, load_prompt_set, load_scene_prompts

EXAMPLES = Path(__file__).resolve().parents[2] / "prompts" / "examples"
WINCLIP = EXAMPLES / "winclip-pcb.yaml"
SCENE = EXAMPLES / "scene-parking-lot.yaml"
ANSWER = EXAMPLES / "chat-answer.yaml"


def test_every_example_is_documented_in_the_readme() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    for path in sorted(EXAMPLES.glob("*.yaml")):
        assert f"examples/{path.name}" in readme


def test_winclip_example_loads_and_crosses_into_its_ensemble() -> None:
    prompt_set = load_prompt_set(WINCLIP)
    assert prompt_set.name == "winclip-pcb" and prompt_set.version == 1
    assert len(prompt_set.normal_states) == 4 and len(prompt_set.anomalous_states) == 5
    normal, anomalous = build_ensemble(prompt_set, "circuit board")
    assert len(normal) == 4 * 4 and len(anomalous) == 5 * 4
    assert anomalous[0] == "a photo of a circuit board with a missing component."
    assert normal[-1] == "an inspection photo of a circuit board with every component in place."


def test_scene_example_loads_with_its_default_definitions() -> None:
    scene = load_scene_prompts(SCENE)
    assert scene.name == "scene-parking-lot"
    assert scene.definitions[0] == "a person breaking into a car"
    assert scene.sentences("a fire") == [
        "a parking lot camera frame of fire.",
        "security camera footage of a parking lot with fire.",
        "a CCTV image of fire in a car park.",
    ]


def test_chat_answer_example_has_the_keys_of_the_packaged_answer_prompt() -> None:
    from vlad.pipeline.summary import AnswerPrompts

    example = AnswerPrompts.load(str(ANSWER))
    packaged = AnswerPrompts.load("answer")
    assert example.max_new_tokens == 120
    assert example.summary_system.startswith("You report what a visual anomaly detector found")
    assert example.chat_user == packaged.chat_user
    assert example.summary_user_text(["E1: x"]) == "Facts:\nE1: x\n\nWrite the safety report."


def test_a_prompt_of_another_kind_is_refused_in_one_sentence() -> None:
    from vlad.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"^Scene prompt file .*winclip-pcb\.yaml holds a winclip"
    ):
        load_scene_prompts(WINCLIP)


def _clip(clip_dir: Path) -> list[str]:
    return ["--clip-weights", f"local-dir:{clip_dir}", "--no-progress", "--json"]


def test_detect_image_with_the_winclip_example(clip_dir, tmp_path, capsys) -> None:
    image = tmp_path / "board.png"
    make_image(40, 40, seed=5, defect=True).save(image)
    base = ["detect", str(image), "--class-name", "circuit board", *_clip(clip_dir)]
    assert main(base) == 0
    [default] = json.loads(capsys.readouterr().out)
    assert main([*base, "--prompts", str(WINCLIP)]) == 0
    [example] = json.loads(capsys.readouterr().out)
    assert example["input"] == default["input"] == str(image)
    # Other state words, so another score from the same tiny CLIP.
    assert example["score"] != pytest.approx(default["score"], abs=1e-9)


def test_detect_video_with_the_scene_example(clip_dir, tmp_path, capsys) -> None:
    video = write_video(tmp_path / "lot.mp4", moving_square_frames(20, 48, 64), fps=10)
    base = ["detect", str(video), "--fps", "5", "--threshold", "0", *_clip(clip_dir)]
    assert main([*base, "--define", "a car on fire"]) == 0
    [default] = json.loads(capsys.readouterr().out)
    assert main([*base, "--define", "a car on fire", "--scene-prompts", str(SCENE)]) == 0
    [example] = json.loads(capsys.readouterr().out)
    assert example["score"] != pytest.approx(default["score"], abs=1e-9)
    # Without --define, the example's own definitions are scored.
    assert main([*base, "--scene-prompts", str(SCENE)]) == 0
    [own] = json.loads(capsys.readouterr().out)
    text = json.dumps(own)
    assert "a person breaking into a car" in text and "a fire in the parking lot" in text
