"""Reasoning settings as data: InductionConfig, RecallConfig, DeductionConfig, and prompts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.reasoning.deduction.helpers import ScriptedChat, WordEmbedder, rules_of
from vlad.config import DeductionConfig, InductionConfig, RecallConfig
from vlad.config import reasoning as config_reasoning
from vlad.errors import ConfigError
from vlad.reasoning.deduction import METHODS, RuleDeducer


@pytest.mark.parametrize("cls", [InductionConfig, RecallConfig, DeductionConfig])
def test_every_field_has_help_text(cls) -> None:
    for item in dataclasses.fields(cls):
        assert item.metadata.get("help"), f"{cls.__name__}.{item.name} has no help"


def test_shared_constants_match_their_owners() -> None:
    from vlad.scoring.memory import DEFAULT_DEDUP_THRESHOLD

    assert config_reasoning.DEFAULT_DEDUP_THRESHOLD == DEFAULT_DEDUP_THRESHOLD
    assert (
        METHODS == config_reasoning.DEDUCTION_METHODS == ("keywords", "retrieval", "hybrid", "llm")
    )


def test_induction_config_defaults_and_votes() -> None:
    config = InductionConfig(definitions=["a fire"])
    assert config.definitions == ("a fire",) and config.votes_needed == 2
    assert InductionConfig(batches=5).votes_needed == 3
    assert InductionConfig(batches=5, min_votes=1).votes_needed == 1
    with pytest.raises(ConfigError, match=r"^One of the definitions is empty") as info:
        InductionConfig(definitions=[" "])
    assert info.value.param == "definitions"


def test_recall_config_sizes_follow_the_prompt_categories() -> None:
    config = RecallConfig(scene="a lot", size=40)
    assert (config.normal_quota, config.anomalous_quota) == (20, 20)
    assert config.request_size(3) == 7 and config.request_size(10) == 3
    assert config.round_budget(3) == max(5, 4 * 1) and config.answer_tokens(3) == 7 * 20
    assert RecallConfig(scene="a lot", max_rounds=2, per_request=4).round_budget(3) == 2


@pytest.mark.parametrize(
    ("options", "param", "message"),
    [
        ({"method": "magic"}, "method", r"^Unknown deduction method 'magic'; use one of keywords"),
        ({"smooth": -1.0}, "smooth", r"^smooth must be zero or more frames, got -1\.0\.$"),
        ({"llm_budget": float("nan")}, "llm_budget", r"^llm_budget must be 0 or more"),
        ({"prior_min_share": 0.0}, "prior_min_share", r"^prior_min_share must lie in \(0, 1\]"),
        ({"prior_weight": 2.0}, "prior_weight", r"^prior_weight must lie in \[0, 1\], got 2\.0"),
        ({"batch_size": 0}, "batch_size", r"^batch_size must be at least 1, got 0\.$"),
    ],
)
def test_deduction_config_refuses_bad_values(options: dict, param: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        DeductionConfig(**options)
    assert info.value.param == param


def test_deducer_from_config_uses_its_settings_and_judge_prompt(tmp_path: Path) -> None:
    prompt = tmp_path / "judge.yaml"
    prompt.write_text(
        "kind: judge\nsystem: Judge it.\nanomaly_heading: 'BAD:'\nnormal_heading: 'OK:'\n"
        "question: '{rules} | {description} | anomalous?'\n"
        "check: '{rules} | {description} | {reason} | sure?'\n"
    )
    chat = ScriptedChat(lambda t: json.dumps({"verdict": "normal", "rule": 2, "reason": "ok"}))
    config = DeductionConfig(method="llm", smooth=0, judge_prompt=str(prompt))
    deducer = RuleDeducer.from_config(rules_of(["Running"], ["Walking"]), config, backend=chat)
    [[frame]] = deducer.deduce([["a man walks"]])
    assert frame.verdict == "normal" and frame.rules == ("n1",)
    assert chat.asked == ["BAD:\n1. Running\nOK:\n2. Walking | a man walks | anomalous?"]
    retrieval = RuleDeducer.from_config(
        rules_of(["Running"], []),
        DeductionConfig(prior_weight=0.5, batch_size=7),
        embedder=WordEmbedder(["running"]),
    )
    assert retrieval.matcher is not None
    assert (retrieval.matcher.prior_weight, retrieval.matcher.batch_size) == (0.5, 7)
