"""The short text of an answer: a language model words it from the facts, code checks it.

The prompts come from a YAML file of kind ``answer`` (packaged ``vlad/prompts/answer.yaml``,
or a user's file): ``summary_system``, ``summary_user`` (with ``{facts}``), ``chat_system``,
``chat_user`` (with ``{facts}`` and ``{question}``) and ``max_new_tokens``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Literal

from vlad.answer.explanation import Explanation
from vlad.answer.grounding import ground_text
from vlad.answer.text import facts, template_text
from vlad.errors import ConfigError, VladError
from vlad.prompts.files import load_prompt_text, read_prompt_yaml
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
        if self.llm is None:
            return template_text(explanation), "template"
        system = self.prompts.summary_system
        conversation: Conversation = [
            {"role": "system", "content": system},
            {"role": "user", "content": self.prompts.summary_user_text(facts(explanation))},
        ]
        answer = self.ask(conversation)
        if answer is None:
            return template_text(explanation), "template"
        grounded = ground_text(answer, explanation, instructions=system)
        for reason in grounded.dropped:
            log.info("Dropped a sentence of the model's summary: %s", reason)
        usable = grounded.grounded if explanation.anomalous else grounded.kept > 0
        if not usable:
            return template_text(explanation), "template"
        return grounded.text, "llm"
