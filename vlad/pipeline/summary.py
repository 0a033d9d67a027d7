"""The short text of an answer: a language model words it from the facts, code checks it.

The prompts come from a YAML file of kind ``answer`` (packaged ``vlad/prompts/answer.yaml``,
or a user's file): ``summary_system``, ``summary_user`` (with ``{facts}``), ``chat_system``,
``chat_user`` (with ``{facts}`` and ``{question}``) and ``max_new_tokens``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from vlad.answer.explanation import Explanation
from vlad.answer.grounding import ground_text
from vlad.answer.text import facts, template_text
from vlad.errors import ConfigError, VladError
from vlad.prompts.files import load_prompt_text, read_prompt_yaml
from vlad.reasoning.checks import BREAK
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings

log = logging.getLogger(__name__)

PROMPT_KEYS = ("summary_system", "summary_user", "chat_system", "chat_user")


@dataclass(frozen=True)
class AnswerPrompts:
    """The answer prompts of one YAML file.

    Attributes:
        summary_system: System message of the summary after each analysis.
        summary_user: Its user message; ``{facts}`` is replaced.
        chat_system: System message of chat answers.
        chat_user: Their user message; ``{facts}`` and ``{question}`` are replaced.
        max_new_tokens: Most tokens per answer.
        source: Where the prompts came from.
    """

    summary_system: str
    summary_user: str
    chat_system: str
    chat_user: str
    max_new_tokens: int = 160
    source: str = "answer"

    @classmethod
    def load(cls, name_or_path: str = "answer") -> AnswerPrompts:
        """Read the prompts from a packaged name or a YAML file.

        Raises:
            ConfigError: The file is missing, of another kind, or lacks a field.
        """
        texts = load_prompt_text(name_or_path, "Answer", PROMPT_KEYS)
        data, _ = read_prompt_yaml(name_or_path, "Answer")
        tokens = data.get("max_new_tokens", 160)
        if not isinstance(tokens, int) or tokens < 1:
            raise ConfigError(
                f"Answer prompt file {texts['source']} needs max_new_tokens as a positive "
                f"whole number, got {tokens!r}.",
                param="answer_prompts",
            )
        for key, fields in (
            ("summary_user", ("{facts}",)),
            ("chat_user", ("{facts}", "{question}")),
        ):
            missing = [f for f in fields if f not in texts[key]]
            if missing:
                raise ConfigError(
                    f"Answer prompt file {texts['source']} needs {', '.join(missing)} in '{key}'.",
                    param="answer_prompts",
                )
        return cls(
            **{k: texts[k] for k in PROMPT_KEYS}, max_new_tokens=tokens, source=texts["source"]
        )

    def summary_user_text(self, lines: list[str]) -> str:
        """The summary's user message for these facts."""
        return self.summary_user.replace("{facts}", "\n".join(lines))

    def chat_user_text(self, lines: list[str], question: str) -> str:
        """A chat answer's user message for these facts and (quoted) question."""
        return self.chat_user.replace("{facts}", "\n".join(lines)).replace("{question}", question)


@dataclass(frozen=True)
class WrittenText:
    """The text of an explanation, where it came from, and what the checks dropped.

    Attributes:
        text: The text.
        source: ``llm`` (the model's checked sentences) or ``template``.
        note: One sentence on the model's sentences that the checks dropped (how many,
            why) or on the template replacing them; None when nothing was dropped.
        dropped: Sentences dropped, per reason.
    """

    text: str
    source: Literal["llm", "template"]
    note: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def apply(self, explanation: Explanation) -> Explanation:
        """The explanation with this text, its source and the note added to its notes."""
        notes = explanation.notes + ((self.note,) if self.note else ())
        return replace(explanation, text=self.text, text_source=self.source, notes=notes)


def check_summary(
    answer: str, explanation: Explanation, instructions: Sequence[str] = ()
) -> WrittenText:
    """Keep the sentences of a model's summary that pass the checks, or use the template.

    The answer goes through :func:`~vlad.answer.grounding.ground_text`; when nothing is
    left (or, for an anomalous verdict, nothing that cites an evidence id or an interval's
    time), the template text is used and the note says so.

    Args:
        answer: The model's text.
        explanation: The explanation it words.
        instructions: The prompt's instruction texts (data replaced by
            :data:`~vlad.reasoning.checks.BREAK`).

    Returns:
        The text, its source and the note.
    """
    grounded = ground_text(answer, explanation, instructions=instructions)
    for reason in grounded.dropped:
        log.info("Dropped a sentence of the model's summary: %s", reason)
    usable = grounded.grounded if explanation.anomalous else grounded.kept > 0
    if not usable:
        return WrittenText(
            template_text(explanation),
            "template",
            grounded.note(replaced=True),
            grounded.drop_counts,
        )
    return WrittenText(grounded.text, "llm", grounded.note(replaced=False), grounded.drop_counts)


class AnswerWriter:
    """Asks the language model for texts, serialised, and checks them; counts its failures.

    Args:
        llm: The chat backend, or None (texts from the template).
        prompts: The answer prompts.
        generation: How the model generates (default: the prompts' token budget).
    """

    def __init__(
        self,
        llm: ChatBackend | None,
        prompts: AnswerPrompts,
        generation: GenerationSettings | None = None,
    ) -> None:
        self.llm = llm
        self.prompts = prompts
        self.generation = generation or GenerationSettings(max_new_tokens=prompts.max_new_tokens)
        self._lock = threading.Lock()
        self.failures = 0

    def ask(
        self, conversation: Conversation, settings: GenerationSettings | None = None
    ) -> str | None:
        """One answer of the language model, or None (counted) when it fails or is absent."""
        if self.llm is None:
            return None
        try:
            with self._lock:
                [answer] = self.llm.chat([conversation], settings or self.generation)
        except VladError as exc:
            self.failures += 1
            log.warning("The language model failed (%s); using the evidence template.", exc)
            return None
        except Exception as exc:  # a model crash must not take the answer down with it
            self.failures += 1
            log.warning(
                "The language model failed (%s: %s); using the evidence template.",
                type(exc).__name__,
                exc,
            )
            return None
        return answer.strip() or None

    def summary(self, explanation: Explanation) -> tuple[str, Literal["llm", "template"]]:
        """The short text of an explanation: the model's, if it passes the checks.

        The model sees the facts only (:func:`~vlad.answer.text.facts`); its answer is kept
        sentence by sentence through :func:`~vlad.answer.grounding.ground_text`, and must
        then still cite an evidence id or an interval's time when the verdict is
        anomalous. Otherwise the template text is used.

        Returns:
            The text and where it came from (``llm`` or ``template``).
        """
        [text] = self.summaries([explanation])
        return text

    def summaries(
        self, explanations: Sequence[Explanation]
    ) -> list[tuple[str, Literal["llm", "template"]]]:
        """The short texts of many explanations, asked of the model in one ``chat()`` call.

        Each text is checked as in :meth:`summary`; a failed call gives every input its
        template text (the failure counted once).

        Returns:
            One (text, origin) per explanation, in order.
        """
        return [(w.text, w.source) for w in self.written(explanations)]

    def worded(self, explanations: Sequence[Explanation]) -> list[Explanation]:
        """The explanations with their checked texts, and a note when the checks dropped any.

        Returns:
            Each explanation with ``text``, ``text_source`` and, when sentences of the
            model's text were dropped, a note saying how many and why (``notes``).
        """
        return [w.apply(e) for e, w in zip(explanations, self.written(explanations), strict=True)]

    def written(self, explanations: Sequence[Explanation]) -> list[WrittenText]:
        """The checked texts of many explanations (one ``chat()`` call), with their notes.

        Returns:
            One :class:`WrittenText` per explanation, in order.
        """
        if self.llm is None or not explanations:
            return [WrittenText(template_text(e), "template") for e in explanations]
        answers = self._ask_many([self.summary_conversation(e) for e in explanations])
        return [self.check(e, a) for e, a in zip(explanations, answers, strict=True)]

    def summary_conversation(self, explanation: Explanation) -> Conversation:
        """The conversation that asks the model for an explanation's text (from its facts).

        For engines that run the model in a stage of their own; :meth:`check` then reads
        the answer.
        """
        return [
            {"role": "system", "content": self.prompts.summary_system},
            {"role": "user", "content": self.prompts.summary_user_text(facts(explanation))},
        ]

    def check(self, explanation: Explanation, answer: str | None) -> WrittenText:
        """The checked text of a model's answer to :meth:`summary_conversation`.

        Args:
            explanation: The explanation the answer words.
            answer: The model's answer, or None when it failed (the template is used).

        Returns:
            The text, its source and a note on dropped sentences.
        """
        if answer is None or not answer.strip():
            return WrittenText(template_text(explanation), "template")
        instructions = [self.prompts.summary_system, self.prompts.summary_user_text([BREAK])]
        return check_summary(answer.strip(), explanation, instructions)

    def _ask_many(self, conversations: list[Conversation]) -> list[str | None]:
        """The model's answers to many conversations (one call), None for each on failure."""
        if len(conversations) == 1:
            return [self.ask(conversations[0])]
        assert self.llm is not None
        try:
            with self._lock:
                answers = self.llm.chat(conversations, self.generation)
        except Exception as exc:  # a model crash must not take the answers down with it
            self.failures += 1
            log.warning("The language model failed (%s); using the evidence template.", exc)
            return [None] * len(conversations)
        return [answer.strip() or None for answer in answers]
