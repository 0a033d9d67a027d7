"""ground_text: every check on a model's answer text, each drop named, on a hand-built
explanation (the issue's own Analyzer text included)."""

from __future__ import annotations

import pytest

from tests.analysis_helpers import fight_explanation
from vlad.answer.explanation import Explanation
from vlad.answer.grounding import ground_text
from vlad.answer.text import facts
from vlad.reasoning.checks import BREAK

SYSTEM = (
    "You summarise the evidence of a visual anomaly detector for a security analyst. "
    "Write at most three short sentences. Use only the facts given."
)


def explanation(verdict: str = "anomalous") -> Explanation:
    """A 60 s video; when anomalous, one interval 0:40-0:45 peaking at 0.38 (threshold 0.35)."""
    return fight_explanation(verdict, peak=0.38, threshold=0.35, low_threshold=0.3)


ANALYZER_TEXT = (
    "The verdict was a 3.33% drop from the highest score of 0.38 and a score of 0.10. "
    "A fight happens from 0:40 to 0:45 [E1]. "
    "The verdict was a 3.33% drop from the highest score of 0.38 and a score of 0.10. "
    "A fight happens from 0:40 to 0:45 [E1]."
)


def test_the_issues_analyzer_text_keeps_one_sentence_and_names_each_drop():
    grounded = ground_text(ANALYZER_TEXT, explanation(), instructions=SYSTEM)
    assert grounded.text == "A fight happens from 0:40 to 0:45 [E1]."
    assert grounded.reasons == ("number in no evidence", "number in no evidence", "repeat")
    assert grounded.dropped[0] == (
        "states 3.33%, which no evidence holds: The verdict was a 3.33% drop from the highest "
        "score of 0.38 and a score of 0.10."
    )
    assert grounded.dropped[2] == (
        "repeats an earlier sentence: A fight happens from 0:40 to 0:45 [E1]."
    )
    assert grounded.drop_counts == {"number in no evidence": 2, "repeat": 1}
    assert grounded.note(replaced=False) == (
        "3 of the language model's 4 sentences were dropped by the checks "
        "(2 number in no evidence, 1 repeat)."
    )


def test_numbers_of_the_facts_are_kept_at_the_precision_stated():
    facts_text = "\n".join(facts(explanation()))
    assert "highest score 0.38, threshold 0.35" in facts_text
    text = (
        "The highest score, 0.38, passed the threshold of 0.35 [E1]. "
        "It scored 38% at 0:42 [E1]. "
        "1 interval was found [E1]. "
        "3 intervals were found [E1]."
    )
    grounded = ground_text(text, explanation())
    assert grounded.kept == 3
    assert grounded.dropped == ("states 3, which no evidence holds: 3 intervals were found [E1].",)
    # Numbers of the question (or of extra facts) count when passed as sources.
    asked = ground_text("A score of 0.9 is far off [E1].", explanation(), sources=["0.9?"])
    assert asked.kept == 1


@pytest.mark.parametrize(
    ("text", "kept", "reasons"),
    [
        # the unterminated last sentence of a text of whole sentences was cut off
        ("A fight happens at 0:42 [E1]. The person in the red", 1, ("fragment",)),
        ("A fight happens at 0:42 [E1]. It is seen by the", 1, ("fragment",)),
        # a single line without a full stop is whole
        ("A fight happens at 0:42 [E1]", 1, ()),
        ("Fight [E1].", 0, ("fragment",)),
        # five words in a row from the instructions, or most of a sentence of theirs
        ("Use only the facts given to you. A fight at 0:42 [E1].", 1, ("prompt echo",)),
        ("Write three short sentences. A fight at 0:42 [E1].", 1, ("prompt echo",)),
        ("A fight at 0:42 [E1]. See [E2] for more.", 1, ("unknown evidence",)),
        ("A fight at 0:42 [E1]. Another at 0:12.", 1, ("time in no interval",)),
        ("A fight at 0:42 [E1]. Everything is normal.", 1, ("contradicts the verdict",)),
    ],
)
def test_each_check_names_its_reason(text, kept, reasons):
    grounded = ground_text(text, explanation(), instructions=SYSTEM)
    assert (grounded.kept, grounded.reasons) == (kept, reasons)


def test_the_data_of_the_prompt_is_no_echo():
    user = "Facts:\n{facts}\n\nWrite the summary.".replace("{facts}", BREAK)
    grounded = ground_text(
        "Write the summary. A fight happens from 0:40 to 0:45 [E1].",
        explanation(),
        instructions=[SYSTEM, user],
    )
    assert grounded.text == "A fight happens from 0:40 to 0:45 [E1]."
    assert grounded.reasons == ("prompt echo",)


def test_notes_say_what_was_dropped_and_when_the_template_replaced_it():
    all_bad = ground_text("The score was 0.99. The score was 0.99.", explanation())
    # a repeat is looked for among the kept sentences: both fail on their number
    assert all_bad.kept == 0
    assert all_bad.reasons == ("number in no evidence", "number in no evidence")
    assert all_bad.note(replaced=True) == (
        "The language model's text was replaced by the evidence template: 2 of its 2 "
        "sentences failed the checks (2 number in no evidence)."
    )
    uncited = ground_text("People fight near the door.", explanation())
    assert uncited.kept == 1 and not uncited.grounded
    assert uncited.note(replaced=True) == (
        "The language model's text was replaced by the evidence template: it cites no "
        "evidence id or interval time."
    )
    assert ground_text("A fight at 0:42 [E1].", explanation()).note(replaced=False) is None
