"""The names of the deduction methods, without numpy, so the CLI parser starts fast."""

from __future__ import annotations

from typing import Literal

from vlad.config.reasoning import DEDUCTION_METHODS

Method = Literal["keywords", "retrieval", "hybrid", "llm"]
METHODS: tuple[str, ...] = DEDUCTION_METHODS
