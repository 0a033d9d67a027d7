"""Tests of the parsers of model answers: exact cases and properties over any text."""

from __future__ import annotations

import json
import logging
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlad.reasoning.parsing import (
    DEFAULT_STATS,
    ParseStats,
    parse_json,
    parse_score,
    parse_verdict,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anomalous.", "anomalous"),
        ("normal", "normal"),
        ("**Answer:** normal", "normal"),
        ("**Answer:** Anomalous", "anomalous"),
        ("The frame is abnormal.", "anomalous"),
        ("not anomalous", "normal"),
        ("The scene is not anomalous.", "normal"),
        ("It isn't anomalous at all.", "normal"),
        ("I don’t see anything unusual here.", "normal"),
        ("There are no anomalies in this image.", "normal"),
        ("There is no sign of any anomaly.", "normal"),
        ("Nothing out of the ordinary.", "normal"),
        ("The bottle is defect-free.", "normal"),
        ("non-anomalous", "normal"),
        ("This is not normal behaviour.", "anomalous"),
        ("Verdict: NOT NORMAL", "anomalous"),
        ("A man is running, which is unusual for this walkway.", "anomalous"),
        ("Anomaly detected: a cyclist on the sidewalk.", "anomalous"),
        ("The capsule is defective.", "anomalous"),
        ("Everything looks typical for a parking lot.", "normal"),
        ("Anomalous. While the background is normal, a person is running.", "anomalous"),
        ("Is the frame anomalous? No, it is normal.", "normal"),
        ("Anomaly score: 0.1. The frame is normal.", "normal"),
        ("The people walk. In conclusion, the frame is anomalous.", "anomalous"),
        ("Looks normal at first... Final answer: anomalous", "anomalous"),
        ('{"verdict": "Normal", "reason": "people walk"}', "normal"),
        ('```json\n{"is_anomalous": true}\n```', "anomalous"),
        ("{'anomalous': False}", "normal"),
        ("### Verdict\n**Abnormal** — a truck drives on the lawn.", "anomalous"),
    ],
)
def test_parse_verdict_cases(text: str, expected: str) -> None:
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "A person walks along the path carrying a bag.",
        "Yes.",
        "The scene looks normal, but a man is running, which is unusual.",
        "Is the frame anomalous?",
    ],
)
def test_parse_verdict_gives_none_without_a_clear_answer(text: str) -> None:
    assert parse_verdict(text) is None


@pytest.mark.parametrize(
    ("text", "yes_means", "expected"),
    [
        ("Yes.", "anomalous", "anomalous"),
        ("No.", "anomalous", "normal"),
        ("Yes, a person is running on the grass.", "anomalous", "anomalous"),
        ("no", "normal", "anomalous"),
        ("YES", "normal", "normal"),
        ("Is it anomalous? Yes", "anomalous", "anomalous"),
        ("Answer: no", "anomalous", "normal"),
        ("Yes, the frame is normal.", "anomalous", "normal"),  # words beat yes/no
        ("Yes.", None, None),
    ],
)
def test_parse_verdict_yes_no(text: str, yes_means: str | None, expected: str | None) -> None:
    assert parse_verdict(text, yes_means=yes_means) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.85", 0.85),
        ("Score: 0.3", 0.3),
        ("anomaly score = .7", 0.7),
        ("85%", 0.85),
        ("I am 40 percent sure.", 0.4),
        ("score: 7/10", 0.7),
        ("3 out of 5", 0.6),
        ("1", 1.0),
        ("0", 0.0),
        ("In frame 3 the score is 0.8.", 0.8),
        ("On a scale of 0 to 10, I would rate it 8.", 0.8),
        ('{"frame": 12, "score": 0.25}', 0.25),
        ("1e-3", 0.001),
        ("Probability: 0.95.", 0.95),
    ],
)
def test_parse_score_cases(text: str, expected: float) -> None:
    assert parse_score(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["", "high", "Score: 7", "1.5", "-0.2", "150%", "11/10", "3/0", "nan", "inf"]
)
def test_parse_score_gives_none_out_of_range(text: str) -> None:
    assert parse_score(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (
            'Sure! Here it is:\n```json\n{"verdict": "normal", "score": 0.2}\n```\nDone.',
            {"verdict": "normal", "score": 0.2},
        ),
        ('The answer is {"a": [1, 2, {"b": null}]} as requested.', {"a": [1, 2, {"b": None}]}),
        ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        (
            "{'verdict': 'anomalous', 'why': 'it\\'s late', 'ok': True, 'x': None}",
            {"verdict": "anomalous", "why": "it's late", "ok": True, "x": None},
        ),
        ('{verdict: "normal", score: 0.5}', {"verdict": "normal", "score": 0.5}),
        (
            'See rule [2]. Result: {"rules": ["no bikes", "no cars"]}',
            {"rules": ["no bikes", "no cars"]},
        ),
        ('[{"t": 1}, {"t": 2}]', [{"t": 1}, {"t": 2}]),
        ("Here's the list: [1, 2, 3]", [1, 2, 3]),
        ('{"text": "braces } and ] inside strings"}', {"text": "braces } and ] inside strings"}),
    ],
)
def test_parse_json_cases(text: str, expected: object) -> None:
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "{not: json: at all", "[[[[", "42", '"s"'])
def test_parse_json_gives_none(text: str) -> None:
    assert parse_json(text) is None


def test_failures_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    stats = ParseStats()
    before = dict(DEFAULT_STATS.failures)
    with caplog.at_level(logging.WARNING, logger="vlad.reasoning.parsing"):
        assert parse_verdict("hmm", stats=stats) is None
        assert parse_score("lots", stats=stats) is None
        assert parse_json("nothing", stats=stats) is None
        assert parse_json("{}", stats=stats) == {}
    assert stats.attempts == {"verdict": 1, "score": 1, "json": 2}
    assert stats.failures == {"verdict": 1, "score": 1, "json": 1}
    assert stats.total_failures == 3
    assert stats.failure_rate("json") == 0.5
    assert DEFAULT_STATS.failures == before  # an injected ParseStats keeps them apart
    assert len(caplog.records) == 3
    assert "'lots'" in caplog.text and "JSON value" in caplog.text
    stats.reset()
    assert stats.total_failures == 0 and stats.failure_rate("verdict") is None
    parse_score("none")
    assert DEFAULT_STATS.failures["score"] == before["score"] + 1


def test_non_text_and_huge_inputs_never_raise() -> None:
    for value in (None, 3, b"bytes", ["list"]):
        assert parse_verdict(value) is None  # type: ignore[arg-type]
        assert parse_score(value) is None  # type: ignore[arg-type]
        assert parse_json(value) is None  # type: ignore[arg-type]
    assert parse_json("[" * 20_000) is None
    assert parse_json("[" * 3000 + "]" * 3000) is None  # too deep for json: None, no error
    start = time.perf_counter()
    assert parse_json("{[" * 20_000 + '{"a": 1}') in (None, {"a": 1})  # bounded work
    assert parse_json("x [" * 300 + '{"a": 1}') == {"a": 1}
    assert time.perf_counter() - start < 5


@FAST
@given(st.text())
def test_any_text_never_raises(text: str) -> None:
    assert parse_verdict(text) in (None, "normal", "anomalous")
    assert parse_verdict(text, yes_means="anomalous") in (None, "normal", "anomalous")
    score = parse_score(text)
    assert score is None or 0.0 <= score <= 1.0
    assert parse_json(text) is None or isinstance(parse_json(text), dict | list)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Prose without brackets: a bracket in the prose could form a larger, also valid, value.
_NO_BRACKETS = str.maketrans("", "", "{}[]")
PROSE = st.text(max_size=60).map(lambda s: s.translate(_NO_BRACKETS))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5)
    | st.lists(JSON_VALUES, max_size=5),
    before=PROSE,
    after=PROSE,
    fenced=st.booleans(),
    ascii_only=st.booleans(),
)
def test_json_in_prose_is_recovered(
    value: object, before: str, after: str, fenced: bool, ascii_only: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only, indent=2 if fenced else None)
    if fenced:
        body = f"```json\n{body}\n```"
    assert parse_json(before + body + after) == value


@FAST
@given(
    x=st.floats(0.0, 1.0),
    label=st.sampled_from(["", "Score: ", "anomaly score = ", "p="]),
    tail=st.sampled_from(["", ".", " (fairly sure)", "\nReason: 3 people run."]),
)
def test_scores_round_trip(x: float, label: str, tail: str) -> None:
    assert parse_score(f"{label}{x}{tail}") == x


@FAST
@given(percent=st.integers(0, 100), numerator=st.integers(0, 10))
def test_percentages_and_fractions_round_trip(percent: int, numerator: int) -> None:
    assert parse_score(f"about {percent}%") == pytest.approx(percent / 100)
    assert parse_score(f"I rate it {numerator}/10") == pytest.approx(numerator / 10)


@FAST
@given(
    prose=st.text(max_size=80),
    verdict=st.sampled_from(["normal", "anomalous"]),
    style=st.sampled_from(["Answer: {}", "**Verdict:** {}.", "Final answer: {}"]),
)
def test_a_final_answer_line_wins_over_any_prose(prose: str, verdict: str, style: str) -> None:
    text = prose + "\n" + style.format(verdict.capitalize())
    if "{" in prose:  # a JSON object in the prose is read first, by design
        return
    assert parse_verdict(text) == verdict
    assert math.isfinite(len(text))
