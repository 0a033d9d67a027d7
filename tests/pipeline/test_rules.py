"""Rules applied to videos through CLIP: settings from a rule set, and citations."""

from __future__ import annotations

from vlad.config import VideoConfig
from vlad.pipeline.rules import rule_for_definition, rules_video_config
from vlad.reasoning.rules import Rule, RuleCitation, RuleSet

RULES = RuleSet(
    (
        Rule("people walking", "normal", "human activity", "n1"),
        Rule("a bicycle", "anomaly", "object", "a1"),
        Rule("a bicycle", "anomaly", "human activity", "a2"),
        Rule("a fight", "anomaly", "human activity", "a3"),
    )
)


def test_rules_become_definitions_and_normal_descriptions() -> None:
    config = rules_video_config(
        VideoConfig(definitions=("a fire", "a fight"), normal=("an empty path",)), RULES
    )
    assert config.definitions == ("a bicycle", "a fight", "a fire")
    assert config.normal == ("people walking", "an empty path")
    no_normal = RuleSet((Rule("a fight", "anomaly", "human activity", "a3"),))
    assert rules_video_config(VideoConfig(), no_normal).normal == ()


def test_first_rule_of_a_text_is_cited() -> None:
    assert {k: v.id for k, v in rule_for_definition(RULES).items()} == {
        "a bicycle": "a1",
        "a fight": "a3",
    }
    citation = RuleCitation.of(RULES.rules[3], frame_index=4, time_s=0.41234, caption="two men")
    assert citation.to_record() == {
        "id": "a3",
        "text": "a fight",
        "kind": "anomaly",
        "frame_index": 4,
        "time_s": 0.412,
        "caption": "two men",
    }
    assert RuleCitation.of(RULES.rules[1]).to_record() == {
        "id": "a1",
        "text": "a bicycle",
        "kind": "anomaly",
    }
