"""Shared fakes of the deduction tests: a bag-of-words embedder, a scripted chat, rules."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from vlad.reasoning.llm import GenerationSettings
from vlad.reasoning.rules import Rule, RuleSet


class WordEmbedder:
    """Bag-of-words vectors over a fixed vocabulary: cosine = shared-word overlap, exactly."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = list(vocabulary)
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return "words"

    @property
    def dim(self) -> int:
        return len(self.vocabulary) + 1

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for word in words:
                if word in self.vocabulary:
                    out[row, self.vocabulary.index(word)] = 1.0
            out[row, -1] = 0.1  # keeps every vector non-zero
            out[row] /= np.linalg.norm(out[row])
        return out


class ScriptedChat:
    """A chat backend that answers from a function of the last user message."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        return "scripted"

    def chat(self, conversations, settings: GenerationSettings) -> list[str]:  # type: ignore[no-untyped-def]
        texts = [c[-1]["content"] for c in conversations]
        self.asked.extend(texts)
        return [self.answer(t) for t in texts]


def rules_of(anomaly: Sequence[str], normal: Sequence[str]) -> RuleSet:
    rules = [Rule(t, "anomaly", "human activity", f"a{i}") for i, t in enumerate(anomaly, 1)]
    rules += [Rule(t, "normal", "human activity", f"n{i}") for i, t in enumerate(normal, 1)]
    return RuleSet(tuple(rules))


VOCAB = ["person", "running", "walking", "bicycle", "riding", "tree", "bench", "sitting"]


def judge_answer(text: str) -> str:
    if "Check again" in text:
        return '{"verdict": "anomalous", "rule": 1, "reason": "Still running."}'
    if "running" in text.split("Description:")[1]:
        return '{"verdict": "anomalous", "rule": 1, "reason": "Someone runs."}'
    if "bench" in text.split("Description:")[1]:
        return "I cannot tell."
    return '{"verdict": "normal", "rule": 2, "reason": "Walking is normal."}'
