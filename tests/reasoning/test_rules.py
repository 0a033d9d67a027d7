"""Rule data model: the paper's text format, YAML round trips, validation and bad files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.shared_data import ANOMALYRULER
from vlad.errors import ConfigError, InputError
from vlad.reasoning.rules import (
    Rule,
    RuleSet,
    header_section,
    list_items,
    load_rules,
    merge_rule_sets,
    parse_rules_text,
    rule_id,
)

SHARED = ANOMALYRULER
needs_shared = pytest.mark.skipif(
    not (SHARED / "ped2" / "rules.txt").is_file(), reason="shared AnomalyRuler data not present"
)


def _counts(rule_set: RuleSet) -> Counter[tuple[str, str]]:
    return Counter((r.kind, r.category) for r in rule_set.rules)


@needs_shared
def test_ped2_rules_parse_exactly() -> None:
    rules = load_rules(SHARED / "ped2" / "rules.txt")
    assert _counts(rules) == {
        ("anomaly", "human activity"): 12,
        ("anomaly", "object"): 14,
        ("normal", "human activity"): 9,
        ("normal", "object"): 10,
    }
    assert rules.rules[0] == Rule(
        "Running or jumping", "anomaly", "human activity", "anomaly-human-activity-1", 1, "imported"
    )
    assert rules.by_id("anomaly-object-2").text == (
        "Ground transportations such as vehicles, vans, bicycles."
    )
    assert rules.by_id("normal-object-10").text == "Utility access points on the ground"
    assert rules.categories() == ("human activity", "object")
    assert rules.provenance["format"] == "anomalyruler-text"
    assert all(r.source == "imported" for r in rules.rules)


@needs_shared
def test_avenue_repeated_numbers_keep_every_rule() -> None:
    rules = load_rules(SHARED / "avenue" / "rules.txt")
    assert _counts(rules) == {
        ("anomaly", "human activity"): 11,
        ("anomaly", "object"): 10,
        ("normal", "human activity"): 10,
        ("normal", "object"): 10,
    }
    human = [r.text for r in rules.anomaly() if r.category == "human activity"]
    assert human[1:3] == [
        "Moving opposite against the flow of pedestrian traffic",
        "Loitering with unusual behavior or in a restricted area",
    ]
    assert [r.id for r in rules.anomaly()][:3] == [
        "anomaly-human-activity-1",
        "anomaly-human-activity-2",
        "anomaly-human-activity-3",
    ]
    assert rules.normal()[0].text == "Walking toward stairs"
    assert len(rules) == 41


def test_markdown_variants() -> None:
    text = (
        "Here are the rules:\n"
        "### Rules for Normal Human Activities\n"
        "- Walking on the path\n"
        "* **Sitting** on a bench\n"
        "Normal objects:\n"
        "1) Trees\n"
        "__Abnormal Environmental Objects__\n"
        "2. A car on the walkway\n"
        "## Anomalies in vehicles\n"
        "\u2022 A truck\n"
    )
    rules = parse_rules_text(text, "answer")
    assert [(r.kind, r.category, r.text) for r in rules.rules] == [
        ("normal", "human activity", "Walking on the path"),
        ("normal", "human activity", "Sitting on a bench"),
        ("normal", "object", "Trees"),
        ("anomaly", "object", "A car on the walkway"),
        ("anomaly", "in vehicles", "A truck"),
    ]
    assert rules.rules[-1].id == "anomaly-in-vehicles-1"


def test_header_section_and_list_items() -> None:
    assert header_section("**Anomaly Human Activities:**") == ("anomaly", "human activity")
    assert header_section("**Rules for Normal Non-Human Objects:**") == ("normal", "object")
    assert header_section("Walking alone") is None
    assert header_section("1. Normal walking:") is None
    assert header_section("Here are the rules:") is None
    assert list_items("1. a\n2) **b**\n- c\nprose\n  * d  \n3.\n") == ["a", "b", "c", "d"]


def test_rule_before_header_and_no_rules_are_errors() -> None:
    with pytest.raises(InputError, match=r"^Line 1 of f\.txt is a rule before any section header"):
        parse_rules_text("1. Running\n**Normal Human Activities:**\n", "f.txt")
    with pytest.raises(InputError, match=r"^f\.txt holds no rules; "):
        parse_rules_text("**Normal Human Activities:**\nnothing here\n", "f.txt")


def test_rule_validation_messages() -> None:
    with pytest.raises(ConfigError, match=r"^Rule 'x' has empty text; "):
        Rule("  ", "anomaly", "object", "x")
    with pytest.raises(ConfigError, match=r"^Rule 'x' has unknown kind 'odd'; "):
        Rule("a", "odd", "object", "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^Rule 'x' has votes 0; "):
        Rule("a", "anomaly", "object", "x", votes=0)
    with pytest.raises(ConfigError, match=r"^Rule 'x' has unknown source 'web'; "):
        Rule("a", "anomaly", "object", "x", source="web")  # type: ignore[arg-type]
    rule = Rule("a", "anomaly", "object", "x")
    with pytest.raises(ConfigError, match=r"^Rule id 'x' appears twice; "):
        RuleSet((rule, rule))
    assert Rule("  two   words ", "normal", "object", "y").text == "two words"


def _sample() -> RuleSet:
    return RuleSet(
        (
            Rule("Walking", "normal", "human activity", "normal-human-activity-1", votes=3),
            Rule("Trees", "normal", "object", "normal-object-1", votes=2),
            Rule("Riding a bicycle", "anomaly", "human activity", "anomaly-human-activity-1"),
        ),
        scene="a campus walkway",
        provenance={"model": "fake", "batches": 3, "per_batch": 5},
    )


def test_yaml_round_trip(tmp_path: Path) -> None:
    rules = _sample()
    path = rules.save(tmp_path / "sub" / "rules.yaml")
    assert path == tmp_path / "sub" / "rules.yaml"
    text = path.read_text()
    assert text.startswith("# vlad rule set")
    assert "text: Riding a bicycle" in text
    assert load_rules(path) == rules
    assert RuleSet.load(path) == rules
    assert RuleSet.from_dict(rules.to_dict()) == rules
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]


def test_yaml_without_suffix_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "rules.cfg"
    path.write_text(_sample().save(tmp_path / "r.yaml").read_text())
    assert load_rules(path) == _sample()


def test_hand_added_rules_get_ids(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {kind: anomaly, text: a car on the walkway}\n"
        "  - {kind: anomaly, text: a fire, category: object}\n"
        "  - {kind: normal, text: people walking}\n"
    )
    rules = load_rules(path)
    assert [(r.id, r.category, r.source) for r in rules.rules] == [
        ("anomaly-user-definition-1", "user definition", "user"),
        ("anomaly-object-1", "object", "user"),
        ("normal-human-activity-1", "human activity", "user"),
    ]


def test_with_definitions() -> None:
    rules = _sample().with_definitions(["a person falling", "Riding a bicycle", "a dog"])
    added = rules.rules[3:]
    assert [(r.id, r.text, r.kind, r.source) for r in added] == [
        ("anomaly-user-definition-1", "a person falling", "anomaly", "user"),
        ("anomaly-user-definition-2", "a dog", "anomaly", "user"),
    ]
    assert len(_sample()) == 3
    again = rules.with_definitions(["a cat"])
    assert again.rules[-1].id == "anomaly-user-definition-3"
    with pytest.raises(ConfigError, match=r"^One of the definitions is empty; ") as info:
        rules.with_definitions([" "])
    assert info.value.param == "definitions"


def test_to_text_parses_back() -> None:
    rules = _sample()
    back = parse_rules_text(rules.to_text(), "text")
    assert [(r.kind, r.category, r.text) for r in back.rules] == [
        ("anomaly", "human activity", "Riding a bicycle"),
        ("normal", "human activity", "Walking"),
        ("normal", "object", "Trees"),
    ]


def test_merge_renumbers_colliding_ids() -> None:
    merged = merge_rule_sets([_sample(), _sample()])
    assert len(merged) == 6
    assert merged.rules[3].id == "normal-human-activity-1-2"
    assert rule_id("anomaly", "Human Activity!", 2) == "anomaly-human-activity-2"


def test_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(InputError, match=rf"^Rules file {missing} does not exist; "):
        load_rules(missing)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match=r"is empty; make one with 'vlad rules induce'"):
        load_rules(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(InputError, match=r"is not valid YAML at line \d+; fix the syntax\.$"):
        load_rules(broken)
    not_rules = tmp_path / "list.yaml"
    not_rules.write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r"is not a rule set; it needs a 'rules:' list\.$"):
        load_rules(not_rules)
    no_rules = tmp_path / "none.yml"
    no_rules.write_text("rules: []\n")
    with pytest.raises(InputError, match=r"holds no rules; "):
        load_rules(no_rules)
    normal_only = tmp_path / "normal.yaml"
    normal_only.write_text("rules:\n  - {kind: normal, text: walking}\n")
    with pytest.raises(ConfigError, match=r"has no anomaly rules; add at least one") as info:
        load_rules(normal_only)
    assert str(info.value).endswith("(kind: anomaly) or pass definitions.")
    assert info.value.for_surface({"definitions": "--define"}).endswith("or pass --define.")
    bad_kind = tmp_path / "kind.yaml"
    bad_kind.write_text("rules:\n  - {kind: weird, text: walking}\n")
    with pytest.raises(ConfigError, match=r"^Rule 1 of .*kind.yaml has kind 'weird'; "):
        load_rules(bad_kind)
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "rules:\n  - {id: a, kind: anomaly, text: x}\n  - {id: a, kind: anomaly, text: y}\n"
    )
    with pytest.raises(ConfigError, match=r"^In .*dup.yaml: Rule id 'a' appears twice; "):
        load_rules(dup)
    no_text = tmp_path / "notext.yaml"
    no_text.write_text("rules:\n  - {kind: anomaly}\n")
    with pytest.raises(ConfigError, match=r"^Rule 1 of .*notext.yaml has no text; "):
        load_rules(no_text)
