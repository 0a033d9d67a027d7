"""Tests of vlad.scoring.prompts: packaged sets, ensembles, user phrases, loading errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlad.errors import ConfigError
from vlad.scoring.prompts import (
    PromptSet,
    available_prompt_sets,
    build_ensemble,
    load_prompt_set,
)

NORMAL_STATES = (
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
)
ANOMALOUS_STATES = ("damaged {}", "{} with flaw", "{} with defect", "{} with damage")
PAPER_TEMPLATES = (
    "a cropped photo of the {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
)

VALID_YAML = """\
name: mine
version: 3
normal_states: ["good {}"]
anomalous_states: ["bad {}", "broken {}"]
templates: ["a photo of a {}.", "an image of the {}."]
"""


def write(tmp_path: Path, text: str, name: str = "set.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- packaged sets -----------------------------------------------------------------------


def test_packaged_sets_are_listed():
    names = available_prompt_sets()
    assert "winclip" in names
    assert "winclip-anomalib" in names
    assert names == sorted(names)


def test_winclip_set_is_the_papers():
    prompt_set = load_prompt_set("winclip")
    assert prompt_set.name == "winclip"
    assert prompt_set.version == 1
    assert prompt_set.normal_states == NORMAL_STATES
    assert prompt_set.anomalous_states == ANOMALOUS_STATES
    assert prompt_set.templates == PAPER_TEMPLATES
    assert len(prompt_set.templates) == 21
    assert len(set(prompt_set.templates)) == 21
    assert "a jpeg corrupted photo of a {}." in prompt_set.templates
    assert "a jpeg corrupted photo of the {}." in prompt_set.templates


def test_winclip_anomalib_differs_only_in_the_jpeg_template():
    paper = load_prompt_set("winclip")
    anomalib = load_prompt_set("winclip-anomalib")
    assert anomalib.name == "winclip-anomalib"
    assert anomalib.normal_states == paper.normal_states
    assert anomalib.anomalous_states == paper.anomalous_states
    assert len(anomalib.templates) == 21
    differing = [(a, b) for a, b in zip(paper.templates, anomalib.templates, strict=True) if a != b]
    assert differing == [("a jpeg corrupted photo of a {}.", "a jpeg corrupted photo of the {}.")]
    assert anomalib.templates.count("a jpeg corrupted photo of the {}.") == 2
    assert "a jpeg corrupted photo of a {}." not in anomalib.templates


# --- build_ensemble ----------------------------------------------------------------------


def test_build_ensemble_sizes_and_order_for_bottle():
    normal, anomalous = build_ensemble(load_prompt_set("winclip"), "bottle")
    assert len(normal) == 7 * 21
    assert len(anomalous) == 4 * 21
    assert normal[:3] == [
        "a cropped photo of the bottle.",
        "a close-up photo of a bottle.",
        "a close-up photo of the bottle.",
    ]
    assert normal[21] == "a cropped photo of the flawless bottle."
    assert normal[-1] == "a photo of a bottle without damage for anomaly detection."
    assert anomalous[:2] == [
        "a cropped photo of the damaged bottle.",
        "a close-up photo of a damaged bottle.",
    ]
    assert anomalous[21] == "a cropped photo of the bottle with flaw."
    assert anomalous[-1] == "a photo of a bottle with damage for anomaly detection."
    assert len(set(normal)) == len(normal)
    assert not set(normal) & set(anomalous)


def test_definitions_extend_the_anomalous_states():
    prompt_set = load_prompt_set("winclip")
    base_normal, base_anomalous = build_ensemble(prompt_set, "bottle")
    normal, anomalous = build_ensemble(prompt_set, "bottle", definitions=("a crack in the {}",))
    assert normal == base_normal
    assert len(anomalous) == (4 + 1) * 21
    assert anomalous[: 4 * 21] == base_anomalous
    assert anomalous[4 * 21] == "a cropped photo of the crack in the bottle."
    assert anomalous[-1] == "a photo of a crack in the bottle for anomaly detection."


def test_definitions_replace_the_anomalous_states():
    prompt_set = load_prompt_set("winclip")
    base_normal, _ = build_ensemble(prompt_set, "bottle")
    normal, anomalous = build_ensemble(
        prompt_set, "bottle", definitions=("scratched {}", "{} with a dent"), replace_states=True
    )
    assert normal == base_normal  # no --normal phrases: the normal side stays
    assert len(anomalous) == 2 * 21
    assert anomalous[0] == "a cropped photo of the scratched bottle."
    assert anomalous[21] == "a cropped photo of the bottle with a dent."
    assert not any("damaged" in p for p in anomalous)


def test_normal_phrases_extend_or_replace_the_normal_side():
    prompt_set = load_prompt_set("winclip")
    normal, anomalous = build_ensemble(prompt_set, "bottle", normal=("shiny {}",))
    assert len(normal) == 8 * 21
    assert normal[7 * 21] == "a cropped photo of the shiny bottle."
    assert len(anomalous) == 4 * 21
    normal, anomalous = build_ensemble(
        prompt_set, "bottle", definitions=("cracked {}",), normal=("shiny {}",), replace_states=True
    )
    assert len(normal) == 21
    assert len(anomalous) == 21
    assert normal[11] == "a photo of a shiny bottle."
    assert anomalous[11] == "a photo of a cracked bottle."


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("a person riding a bicycle", "a photo of a person riding a bicycle."),
        ("A person riding a bicycle", "a photo of a person riding a bicycle."),
        ("an open door", "a photo of a open door."),
        ("the car   on the  sidewalk ", "a photo of a car on the sidewalk."),
        ("another car", "a photo of a another car."),  # "an" only as a whole word
        ("a", "a photo of a a."),
    ],
)
def test_user_phrase_article_dropped_and_whitespace_normalised(phrase, expected):
    prompt_set = PromptSet("t", ("{}",), ("bad {}",), ("a photo of a {}.",))
    _, anomalous = build_ensemble(prompt_set, "walkway scene", definitions=(phrase,))
    assert anomalous[-1] == expected


def test_user_phrase_slot_filled_with_class_name():
    prompt_set = PromptSet("t", ("{}",), ("bad {}",), ("a photo of a {}.",))
    normal, anomalous = build_ensemble(
        prompt_set, "metal nut", definitions=("a bent {}",), normal=("a {} with thread",)
    )
    assert anomalous == ["a photo of a bad metal nut.", "a photo of a bent metal nut."]
    assert normal == ["a photo of a metal nut.", "a photo of a metal nut with thread."]


@pytest.mark.parametrize(
    "phrase, state",
    [
        ("a {weird} {0} thing", "{weird} {0} thing"),
        ("{} with {braces}", "cup with {braces}"),
        ("a { and } thing", "{ and } thing"),
        ("{}{}", "cupcup"),
    ],
)
def test_braces_in_user_text_are_kept_literally(phrase, state):
    prompt_set = PromptSet("t", ("{}",), ("bad {}",), ("a photo of a {}.",))
    _, anomalous = build_ensemble(prompt_set, "cup", definitions=(phrase,))
    assert anomalous[-1] == f"a photo of a {state}."


def test_braces_in_class_name_are_kept_literally():
    prompt_set = PromptSet("t", ("{} ok",), ("bad {}",), ("a photo of a {}.",))
    normal, anomalous = build_ensemble(prompt_set, "{x}")
    assert normal == ["a photo of a {x} ok."]
    assert anomalous == ["a photo of a bad {x}."]


# --- load_prompt_set from a user file ----------------------------------------------------


def test_load_prompt_set_from_yaml_path(tmp_path):
    path = write(tmp_path, VALID_YAML)
    for name_or_path in (path, str(path)):
        prompt_set = load_prompt_set(name_or_path)
        assert prompt_set == PromptSet(
            name="mine",
            normal_states=("good {}",),
            anomalous_states=("bad {}", "broken {}"),
            templates=("a photo of a {}.", "an image of the {}."),
            version=3,
        )
    normal, anomalous = build_ensemble(prompt_set, "pill")
    assert normal == ["a photo of a good pill.", "an image of the good pill."]
    assert anomalous[-1] == "an image of the broken pill."


def test_load_prompt_set_name_defaults_to_file_stem(tmp_path):
    text = "normal_states: ['{}']\nanomalous_states: ['bad {}']\ntemplates: ['{}']\n"
    path = write(tmp_path, text, name="factory.txt")  # an existing file of any suffix
    prompt_set = load_prompt_set(path)
    assert prompt_set.name == "factory"
    assert prompt_set.version == 1


# --- errors ------------------------------------------------------------------------------


def test_unknown_set_name_lists_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"^Unknown WinCLIP prompt 'no-such-set'; use one of "
    ) as info:
        load_prompt_set("no-such-set")
    message = str(info.value)
    for name in available_prompt_sets():
        assert name in message
    assert "winclip-anomalib" in message


def test_missing_yaml_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=r"^WinCLIP prompt file .*missing\.yaml does not exist"):
        load_prompt_set(path)


def test_malformed_yaml(tmp_path):
    path = write(tmp_path, "normal_states: [unclosed\nanomalous_states: :\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_prompt_set(path)


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = write(tmp_path, "- '{}'\n- 'bad {}'\n")
    with pytest.raises(ConfigError, match="must be a mapping with states and templates"):
        load_prompt_set(path)


def test_yaml_lacking_a_list(tmp_path):
    path = write(tmp_path, "normal_states: ['{}']\nanomalous_states: ['bad {}']\n")
    with pytest.raises(ConfigError, match="needs 'templates' as a list of strings"):
        load_prompt_set(path)


@pytest.mark.parametrize(
    "field, items, message",
    [
        (
            "anomalous_states",
            "['damaged']",
            r"'damaged' in anomalous_states needs exactly one '\{\}'",
        ),
        ("templates", "['a {} of {}']", r"'a \{\} of \{\}' in templates needs exactly one '\{\}'"),
        ("normal_states", "[]", "has no normal_states; add at least one"),
    ],
)
def test_bad_items_in_a_user_file(tmp_path, field, items, message):
    data = {"normal_states": "['{}']", "anomalous_states": "['bad {}']", "templates": "['{}.']"}
    data[field] = items
    path = write(tmp_path, "name: mine\n" + "".join(f"{k}: {v}\n" for k, v in data.items()))
    with pytest.raises(ConfigError, match=message):
        load_prompt_set(path)


@pytest.mark.parametrize(
    "templates", ["", "'a photo of a {}.'", "[1, 2]", "{a: b}", "['{}', null]"]
)
def test_a_list_that_is_not_a_list_of_strings(tmp_path, templates):
    text = f"normal_states: ['{{}}']\nanomalous_states: ['bad {{}}']\ntemplates: {templates}\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="needs 'templates' as a list of strings"):
        load_prompt_set(path)


def test_prompt_set_checks_itself():
    with pytest.raises(ConfigError, match="Prompt set 'x' has no templates; add at least one"):
        PromptSet("x", ("{}",), ("bad {}",), ())
    with pytest.raises(ConfigError, match=r"'\{\} \{\}' in normal_states needs exactly one"):
        PromptSet("x", ("{} {}",), ("bad {}",), ("{}",))
