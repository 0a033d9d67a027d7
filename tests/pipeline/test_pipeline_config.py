"""PipelineConfig, DemoLimits and the answer prompts: checked settings naming parameters."""

from __future__ import annotations

import pytest

from vlad.config import DemoLimits, PipelineConfig, VideoConfig, WinClipConfig
from vlad.errors import ConfigError


def test_nested_mappings_become_sub_configs():
    config = PipelineConfig(
        video={"sample_fps": 4, "definitions": ["a fight"]}, image={"threshold": 0.3}
    )
    assert isinstance(config.video, VideoConfig) and config.video.sample_fps == 4
    assert config.video.definitions == ("a fight",)
    assert isinstance(config.image, WinClipConfig) and config.image.threshold == 0.3
    assert PipelineConfig().llm == "offline" and PipelineConfig().answer_prompts == "answer"


@pytest.mark.parametrize(
    ("kwargs", "param", "words"),
    [
        ({"neighbours": 0}, "neighbours", "neighbours must be at least 1, got 0."),
        ({"memory_k": -1}, "memory_k", "memory_k must be at least 1"),
        ({"max_keyframes": 0}, "max_keyframes", "max_keyframes must be at least 1"),
        ({"batch_size": 0}, "batch_size", "batch_size must be at least 1"),
        ({"max_pixels": 0}, "max_pixels", "max_pixels must be a positive number, got 0."),
        ({"answer_prompts": " "}, "answer_prompts", "answer_prompts is empty"),
        ({"video": {"fps": 3}}, "video", "Unknown setting(s) fps in video"),
        ({"clip": 3}, "clip", "clip must be a ClipConfig or a mapping, got int."),
    ],
)
def test_bad_settings_name_their_parameter(kwargs, param, words):
    with pytest.raises(ConfigError) as caught:
        PipelineConfig(**kwargs)
    assert caught.value.param == param
    assert words in str(caught.value) and "--" not in str(caught.value)


def test_demo_limits_are_checked():
    assert DemoLimits().max_upload_mb == 200.0 and DemoLimits().queue_size == 32
    for kwargs, param in (
        ({"max_upload_mb": 0}, "max_upload_mb"),
        ({"max_video_seconds": float("nan")}, "max_video_seconds"),
        ({"concurrency": 0}, "concurrency"),
        ({"queue_size": 0}, "queue_size"),
        ({"max_sessions": 0}, "max_sessions"),
    ):
        with pytest.raises(ConfigError) as caught:
            DemoLimits(**kwargs)
        assert caught.value.param == param
        assert str(caught.value).startswith(f"{param} must be")


def test_packaged_answer_prompts_and_a_user_override(tmp_path):
    from vlad.pipeline.summary import AnswerPrompts

    packaged = AnswerPrompts.load()
    assert "[E1]" in packaged.summary_system and "<question>" in packaged.chat_system
    assert packaged.summary_user_text(["a", "b"]) == "Facts:\na\nb\n\nWrite the summary."
    assert packaged.chat_user_text(["a"], "why?") == "Facts:\na\n\n<question>\nwhy?\n</question>"
    override = tmp_path / "answer.yaml"
    override.write_text(
        "kind: answer\nsummary_system: Be brief.\nsummary_user: 'F: {facts}'\n"
        "chat_system: Answer.\nchat_user: '{facts} Q: {question}'\nmax_new_tokens: 40\n"
    )
    mine = AnswerPrompts.load(str(override))
    assert (mine.summary_system, mine.max_new_tokens) == ("Be brief.", 40)
    assert mine.chat_user_text(["x"], "q") == "x Q: q"
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: answer\nsummary_system: a\nsummary_user: b\nchat_system: c\n")
    with pytest.raises(ConfigError, match="needs 'chat_user' as text"):
        AnswerPrompts.load(str(broken))
    no_facts = tmp_path / "no_facts.yaml"
    no_facts.write_text(
        "kind: answer\nsummary_system: a\nsummary_user: b\nchat_system: c\n"
        "chat_user: '{facts} {question}'\n"
    )
    with pytest.raises(ConfigError, match=r"needs \{facts\} in 'summary_user'"):
        AnswerPrompts.load(str(no_facts))


def test_the_summary_model_sees_the_override(tiny_encoder, tmp_path):
    from tests.pipeline.test_facade import ScriptedBackend
    from vlad.pipeline import Pipeline
    from vlad.pipeline.summary import AnswerPrompts

    override = tmp_path / "answer.yaml"
    override.write_text(
        "kind: answer\nsummary_system: Only facts.\nsummary_user: 'FACTS {facts}'\n"
        "chat_system: c\nchat_user: '{facts} {question}'\n"
    )
    backend = ScriptedBackend("")
    pipeline = Pipeline(tiny_encoder, llm=backend, answer_prompts=str(override))
    assert pipeline.prompts == AnswerPrompts.load(str(override))
    from tests.conftest import make_image

    path = tmp_path / "a.png"
    make_image(32, 32).save(path)
    [explanation] = pipeline.analyze(path)
    assert explanation.text_source == "template"  # the empty answer is not kept
    [conversation] = backend.prompts
    assert conversation[0] == {"role": "system", "content": "Only facts."}
    assert conversation[1]["content"].startswith("FACTS Verdict (decided by the scores)")
