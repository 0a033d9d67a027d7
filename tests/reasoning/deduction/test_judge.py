"""The LLM judge: numbered rules and parsed verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reasoning.deduction.helpers import (
    ScriptedChat,
    rules_of,
)
from vlad.errors import ConfigError
from vlad.reasoning.deduction.judge import RuleJudge, load_judge_prompt
from vlad.reasoning.deduction.records import DeductionStats


def test_rule_judge_reads_rule_numbers_in_order() -> None:
    rules = rules_of(["Running", "Fighting"], ["Walking"])
    chat = ScriptedChat(lambda t: json.dumps({"verdict": "anomalous", "rule": 2, "reason": "x"}))
    judge = RuleJudge(rules, chat, double_check=False)

    stats = DeductionStats(frames=1)
    [judgement] = judge.judge(["two people fight"], stats)
    assert judgement.rule == "a2"
    assert "1. Running\n2. Fighting\nNormal rules:\n3. Walking" in chat.asked[0]


def test_packaged_judge_prompt_gives_the_historic_conversation() -> None:
    chat = ScriptedChat(lambda t: json.dumps({"verdict": "anomalous", "rule": 1, "reason": "r"}))
    judge = RuleJudge(rules_of(["Running"], ["Walking"]), chat)
    stats = DeductionStats()
    judge.judge(["a  man runs"], stats)
    assert chat.asked == [
        'Anomaly rules:\n1. Running\nNormal rules:\n2. Walking\n\nDescription: "a man runs"\n'
        "Is anything in the description anomalous by the rules?",
        'Anomaly rules:\n1. Running\nNormal rules:\n2. Walking\n\nDescription: "a man runs"\n'
        "A first reading judged it anomalous because: r Check again, carefully: does an "
        "anomaly rule really apply?",
    ]
    assert judge.prompt.system.startswith("You check descriptions of video frames against rules.")


def test_a_judge_prompt_with_an_unknown_placeholder_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "judge.yaml"
    bad.write_text(
        "system: s\nanomaly_heading: a\nnormal_heading: n\nquestion: '{rules} {description}'\n"
        "check: '{rules} {description} {reason} {extra}'\n"
    )
    with pytest.raises(ConfigError, match=r"unknown placeholder \{extra\}") as info:
        load_judge_prompt(bad)
    assert info.value.param == "judge_prompt"
