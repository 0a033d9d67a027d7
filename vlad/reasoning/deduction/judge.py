"""AnomalyRuler-style deduction by an LLM: the rules and one description in, a verdict out.

The prompt is data (``vlad/prompts/rule-judge.yaml``, or a user's YAML of the same shape):
a system message, the headings of the numbered rules, the question, and the double-check
question asked about positive answers.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlad.config.reasoning import DEFAULT_JUDGE_PROMPT
from vlad.errors import ConfigError
from vlad.prompts.files import load_prompt_text
from vlad.reasoning.deduction.records import DeductionStats

if TYPE_CHECKING:
    from vlad.reasoning.llm import ChatBackend
    from vlad.reasoning.rules import RuleSet

JUDGE_KIND = "Judge"
_JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["anomalous", "normal"]},
        "rule": {"type": "integer"},
        "reason": {"type": "string"},
    },
    "required": ["verdict"],
}


@dataclass(frozen=True)
class JudgePrompt:
    """The deduction templates, kept as versioned data.

    Attributes:
        name: The prompt's name.
        version: Its version.
        system: The system message.
        anomaly_heading: The line above the numbered anomaly rules.
        normal_heading: The line above the numbered normal rules.
        question: The first question; ``{rules}`` and ``{description}`` are filled in.
        check: The double check of a positive answer; also ``{reason}``.
    """

    name: str
    version: int
    system: str
    anomaly_heading: str
    normal_heading: str
    question: str
    check: str

    def __post_init__(self) -> None:
        for key, needed in (
            ("question", ("{rules}", "{description}")),
            ("check", ("{rules}", "{description}", "{reason}")),
        ):
            for slot in needed:
                if slot not in getattr(self, key):
                    raise ConfigError(
                        f"Judge prompt '{self.name}': the '{key}' template needs {slot}.",
                        param="judge_prompt",
                    )
            slots = {f for _, f, _, _ in string.Formatter().parse(getattr(self, key)) if f}
            unknown = sorted(slots - {s.strip("{}") for s in needed})
            if unknown:
                raise ConfigError(
                    f"Judge prompt '{self.name}': the '{key}' template has an unknown "
                    f"placeholder {{{unknown[0]}}}; write a literal brace as {{{{ or }}}}.",
                    param="judge_prompt",
                )


def load_judge_prompt(name_or_path: str | os.PathLike[str] = DEFAULT_JUDGE_PROMPT) -> JudgePrompt:
    """Load the packaged judge prompt by name, or a user's YAML file by path.

    Raises:
        ConfigError: The file is missing or malformed.
    """
    keys = ("system", "anomaly_heading", "normal_heading", "question", "check")
    fields = load_prompt_text(name_or_path, JUDGE_KIND, keys)
    return JudgePrompt(
        name=fields["name"],
        version=int(fields["version"]),
        system=" ".join(fields["system"].split()),
        anomaly_heading=fields["anomaly_heading"],
        normal_heading=fields["normal_heading"],
        question=fields["question"],
        check=fields["check"],
    )


@dataclass(frozen=True)
class LlmJudgement:
    """One LLM verdict on a description; ``verdict`` is None when it could not be parsed."""

    verdict: str | None
    rule: str | None
    reason: str | None
    tokens: int


class RuleJudge:
    """AnomalyRuler-style deduction by an LLM: rules and one description in, a verdict out.

    Args:
        rules: The rule set, numbered in the prompt (anomaly rules, then normal rules).
        backend: Any chat backend (cache it with ``CachedBackend`` to answer repeats once).
        max_new_tokens: Answer length limit.
        double_check: Ask a second time, as a check, about descriptions judged anomalous
            (the paper's robust reasoning); the second answer wins when it parses.
        prompt: The judge prompt (a packaged name, a YAML path, or loaded).
    """

    def __init__(
        self,
        rules: RuleSet,
        backend: ChatBackend,
        *,
        max_new_tokens: int = 48,
        double_check: bool = True,
        prompt: str | os.PathLike[str] | JudgePrompt = DEFAULT_JUDGE_PROMPT,
    ) -> None:
        self.rules = rules
        self.prompt = prompt if isinstance(prompt, JudgePrompt) else load_judge_prompt(prompt)
        self.backend = backend
        self.double_check = double_check
        self._numbered = list(rules.anomaly()) + list(rules.normal())
        from vlad.reasoning.llm import GenerationSettings

        self._settings = GenerationSettings(
            max_new_tokens=max_new_tokens, temperature=0.0, json_schema=_JUDGE_SCHEMA
        )
        lines = [self.prompt.anomaly_heading]
        lines += [f"{i}. {r.text}" for i, r in enumerate(rules.anomaly(), 1)]
        start = len(rules.anomaly()) + 1
        lines.append(self.prompt.normal_heading)
        lines += [f"{i}. {r.text}" for i, r in enumerate(rules.normal(), start)]
        self._rules_text = "\n".join(lines)

    def _conversation(self, description: str, check: str | None) -> list[dict[str, Any]]:
        text = " ".join(description.split())
        if check is None:
            user = self.prompt.question.format(rules=self._rules_text, description=text)
        else:
            user = self.prompt.check.format(rules=self._rules_text, description=text, reason=check)
        return [
            {"role": "system", "content": self.prompt.system},
            {"role": "user", "content": user},
        ]

    def _parse(self, text: str) -> LlmJudgement:
        from vlad.reasoning.parsing import parse_json, parse_verdict

        tokens = len(text.split())
        data = parse_json(text)
        verdict = rule = reason = None
        if isinstance(data, dict):
            raw = str(data.get("verdict", "")).lower()
            verdict = raw if raw in ("anomalous", "normal") else None
            number = data.get("rule")
            if isinstance(number, int) and 1 <= number <= len(self._numbered):
                rule = self._numbered[number - 1].id
            reason = str(data["reason"]) if isinstance(data.get("reason"), str) else None
        if verdict is None:
            verdict = parse_verdict(text)
        return LlmJudgement(verdict=verdict, rule=rule, reason=reason, tokens=tokens)

    def judge(self, descriptions: Sequence[str], stats: DeductionStats) -> list[LlmJudgement]:
        """Judge each description (one call each, plus checks of positive answers).

        Args:
            descriptions: Distinct descriptions.
            stats: Counts of calls, tokens and parse failures, updated in place.

        Returns:
            One judgement per description.
        """
        if not descriptions:
            return []
        answers = self.backend.chat(
            [self._conversation(d, None) for d in descriptions], self._settings
        )
        found = [self._parse(a) for a in answers]
        stats.llm_calls += len(descriptions)
        stats.llm_tokens += sum(j.tokens for j in found)
        positive = [i for i, j in enumerate(found) if j.verdict == "anomalous"]
        if self.double_check and positive:
            checks = self.backend.chat(
                [
                    self._conversation(descriptions[i], found[i].reason or "a rule applies.")
                    for i in positive
                ],
                self._settings,
            )
            stats.llm_calls += len(positive)
            for i, text in zip(positive, checks, strict=True):
                second = self._parse(text)
                stats.llm_tokens += second.tokens
                if second.verdict is not None:
                    found[i] = LlmJudgement(
                        second.verdict, second.rule or found[i].rule, second.reason, second.tokens
                    )
        stats.parse_failures += sum(1 for j in found if j.verdict is None)
        return found
