"""The checks on model text, each on hand-built lines (the issue's own examples included)."""

from __future__ import annotations

import pytest

from vlad.reasoning.checks import (
    BREAK,
    contradicts_label,
    copied_from,
    describe_drops,
    echoes_prompt,
    instruction_pieces,
    is_fragment,
    numbers_in,
    repeats,
    unsupported_numbers,
    words,
)
from vlad.reasoning.parsing import stated_verdicts
from vlad.reasoning.recall import RecallRequest, load_recall_prompt, recall_instructions

SYSTEM = (
    "You write short captions of events seen by a surveillance camera. "
    "Write one event per line and nothing else."
)


def test_words_lower_case_without_punctuation():
    assert words("A car's lights, at 0:42 [E1]!") == ["a", "car's", "lights", "at", "0", "42", "e1"]
    assert words("") == []


def test_instruction_pieces_split_where_the_data_was():
    template = "Scene: {scene}.\nWrite {count} captions of {kind}."
    text = template.format(scene=BREAK, count=3, kind="normal events")
    assert instruction_pieces(SYSTEM, text) == [
        SYSTEM,
        "Scene: ",
        ".\nWrite 3 captions of normal events.",
    ]
    assert instruction_pieces(BREAK, "", " ") == []


@pytest.mark.parametrize(
    ("line", "echo"),
    [
        ("Write one event per line and nothing else", True),  # the issue's example
        ("- write one event per line.", True),  # five words in a row
        ("One event per line", True),  # shorter than five: all its words in a row
        ("Events seen by a surveillance camera", True),
        ("A student writes one line on the board", False),  # words shared, not in a row
        ("A camera falls", False),
        ("Write one", False),  # under three words: not judged
    ],
)
def test_echoes_prompt(line, echo):
    assert echoes_prompt(line, [SYSTEM]) is echo


def test_echo_runs_do_not_cross_the_data():
    request = "Scene: {scene}. Write 4 short captions."
    pieces = instruction_pieces(request.format(scene=BREAK))
    # The scene is data: a caption may repeat it.
    assert not echoes_prompt("People cross a university campus walkway today", pieces)
    whole = [request.format(scene="a university campus walkway today")]
    assert echoes_prompt("People cross a university campus walkway today", whole)


def test_the_packaged_recall_prompt_is_echoed_but_not_its_scene():
    pieces = recall_instructions(RecallRequest("normal", "human activity"), count=4, max_words=12)
    assert echoes_prompt("Write one event per line and nothing else", pieces)
    assert echoes_prompt("Normal, everyday events that are expected", pieces)
    assert echoes_prompt("At most 12 words each, no numbering", pieces)
    assert not echoes_prompt("A student walks to class", pieces)
    defined = recall_instructions(
        RecallRequest("anomalous", "defined", "a car driving on the walkway"),
        count=4,
        max_words=12,
        prompt=load_recall_prompt(),
    )
    assert not echoes_prompt("A car driving on the walkway", defined)  # the definition is data
    assert echoes_prompt("Vary who or what is involved and where", defined)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("A car drives on the", True),  # the issue's example
        ("Two people walk and", True),
        ("The bus is", True),
        ("A man walks his", True),
        ("A car drives on the walkway", False),
        ("A man stands up", False),  # particles may end a sentence
        ("A car drives by", False),
        ("The lights are on", False),
        ("Walking", False),
        ("", True),
    ],
)
def test_is_fragment(line, fragment):
    assert is_fragment(line) is fragment


def test_is_fragment_with_a_minimum():
    assert is_fragment("A fight", min_words=3)
    assert not is_fragment("A fight breaks out", min_words=3)


@pytest.mark.parametrize(
    ("line", "label", "contradicts"),
    [
        ("normal | A car driving on the walkway is not normal", "normal", True),  # the issue's
        ("A car driving on the walkway is not normal", "anomalous", False),
        ("normal | A student walks to class", "normal", False),
        ("normal | A man steals a bike", "anomalous", True),
        ("Unusual event: a man climbs a lamp post", "normal", True),
        ("Nothing unusual happens on the walkway", "normal", False),
        ("Nothing unusual happens on the walkway", "anomalous", True),
        ("A person does something out of the ordinary", "anomaly", False),
        ("A man climbs a fence", "normal", False),  # no verdict word: no contradiction
        ("A man climbs a fence", "anomalous", False),
    ],
)
def test_contradicts_label(line, label, contradicts):
    assert contradicts_label(line, label) is contradicts


def test_stated_verdicts_apply_negations_in_order():
    assert stated_verdicts("normal | A car driving on the walkway is not normal") == [
        "normal",
        "anomalous",
    ]
    assert stated_verdicts("No anomalies. It is abnormal, isn't it usual?") == [
        "normal",
        "anomalous",
        "anomalous",
    ]
    assert stated_verdicts("the anomaly score is 0.3") == []
    assert stated_verdicts("") == []


CAPTIONS = [
    "Two people are walking on the path. There are trees.",
    "One person is standing near the door of a building.",
    "walking",
]


@pytest.mark.parametrize(
    ("line", "copied"),
    [
        ("Two people are walking on the path", CAPTIONS[0]),  # one sentence, word for word
        ("Two people are walking on the path. There are trees.", CAPTIONS[0]),
        ("two people walking on the path", CAPTIONS[0]),  # ratio 12/13 = 0.92
        ("One person is standing near the door of a building", CAPTIONS[1]),
        ("People walking on the path", None),  # a rule drawn from it: ratio 10/12 = 0.83
        ("Walking", None),  # inputs under three words are not looked for
        ("Standing near a door", None),
        ("", None),
    ],
)
def test_copied_from(line, copied):
    assert copied_from(line, CAPTIONS) == copied


def test_repeats():
    earlier = ["A fight starts at 0:40 [E1].", "It ends by 0:45."]
    assert repeats("A fight starts at 0:40 [E1].", earlier)
    assert repeats("a fight starts at 0:40 [E1]", earlier)
    assert not repeats("A second fight starts at 0:42 [E1].", earlier)
    assert not repeats("", earlier)
    assert not repeats("It ends by 0:45.", [])


FACTS = [
    "Verdict (decided by the scores): anomalous; highest score 0.38, threshold 0.35.",
    "Video length: 1:00.",
    '[E1] 0:40–0:45 (peak 0.38 at 0:42): "a fight" 0.38; memory score 0.21',
]


def test_numbers_in_skip_times_ids_and_words():
    assert numbers_in("E1 at 0:42 by SmolLM2, rule-2; 3.33% and 0.38, then 12 percent.") == [
        (3.33, 2, True),
        (0.38, 2, False),
        (12.0, 0, True),
    ]
    assert numbers_in(FACTS[2]) == [(0.38, 2, False), (0.38, 2, False), (0.21, 2, False)]


def test_unsupported_numbers_of_the_issues_analyzer_text():
    text = "The verdict was a 3.33% drop from the highest score of 0.38 and a score of 0.10."
    assert unsupported_numbers(text, FACTS) == ["3.33%", "0.10"]


@pytest.mark.parametrize(
    ("line", "unsupported"),
    [
        ("The highest score was 0.38 [E1].", []),
        ("The score of 0.4 passed the threshold.", []),  # 0.38 at one decimal
        ("The score of 0.380 passed.", []),
        ("It scored 38% at 0:42.", []),  # a percentage of a fact's fraction
        ("Memory score 0.21, threshold 0.35.", []),
        ("1 interval was found.", []),  # a count given as allowed
        ("2 intervals were found.", ["2"]),
        ("The score was 0.39.", ["0.39"]),
        ("It scored 40%.", ["40%"]),
        ("The score was 0 at 0:10.", ["0"]),
    ],
)
def test_unsupported_numbers(line, unsupported):
    assert unsupported_numbers(line, FACTS, counts=[1]) == unsupported


def test_describe_drops_most_first():
    assert describe_drops({"fragment": 1, "prompt echo": 3, "repeat": 1, "copied input": 0}) == (
        "3 prompt echo, 1 fragment, 1 repeat"
    )
    assert describe_drops({}) == ""
