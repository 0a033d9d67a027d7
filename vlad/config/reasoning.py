"""Settings of the reasoning stages: rule induction, scene recall and rule deduction.

Plain checked dataclasses (no numpy, no model): every field carries its help text in
``metadata["help"]`` and ``__post_init__`` refuses bad values with a sentence that names the
field (``ConfigError.param``), so a surface can say its own flag instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vlad.errors import ConfigError

DEFAULT_INDUCTION_PROMPT = "rule-induction"
DEFAULT_RECALL_PROMPT = "recall"
DEFAULT_JUDGE_PROMPT = "rule-judge"
DEFAULT_MERGE_THRESHOLD = 0.8
DEFAULT_CONFLICT_THRESHOLD = 0.85
"""A recalled caption this similar to an accepted one of the other label is dropped: SmolLM2
wrote "This is a car driving on the walkway" as normal beside the definition "a car driving
on the walkway" (MiniLM cosine about 0.9, under the 0.95 of near-duplicates)."""
DEFAULT_DEDUP_THRESHOLD = 0.95
"""Near-duplicate cosine of a memory (the same value as ``vlad.scoring.memory``'s; a test
keeps the two equal, since config may not import scoring)."""
DEDUCTION_METHODS: tuple[str, ...] = ("keywords", "retrieval", "hybrid", "llm")
"""The deduction methods (the same as ``vlad.reasoning.deduction.methods.METHODS``)."""


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


def _at_least(value: int | None, least: int, param: str, unit: str = "") -> None:
    if value is not None and value < least:
        raise ConfigError(
            f"{param} must be at least {least}{unit}, got {value}.",
            param=param,
        )


def _unit_interval(value: float, param: str, *, low_open: bool = False) -> None:
    ok = (0 < value <= 1) if low_open else (0 <= value <= 1)
    if not (math.isfinite(value) and ok):
        bounds = "(0, 1]" if low_open else "[0, 1]"
        raise ConfigError(f"{param} must lie in {bounds}, got {value}.", param=param)


def _cosine(value: float, param: str) -> None:
    if not (math.isfinite(value) and -1 <= value <= 1):
        raise ConfigError(f"{param} must lie in [-1, 1], got {value}.", param=param)


@dataclass(frozen=True)
class InductionConfig:
    """How rules are induced from descriptions of normal frames (AnomalyRuler's induction).

    Attributes:
        scene: The scene in words, e.g. "a university campus walkway" (None: not said).
        batches: Number of batches (B) whose rules are voted on.
        per_batch: Captions per batch (N).
        rules_per_answer: Most rules asked for (and kept) per answer.
        min_votes: Fewest batches a rule must come from (None: half of them, rounded up).
        merge_threshold: Cosine similarity at which two rules are paraphrases.
        definitions: The user's own anomaly definitions, added as anomaly rules.
        prompt: Induction prompt: a packaged name or a YAML path.
        max_new_tokens: Token budget of one answer.
        seed: Seed of the batch sampling.
    """

    scene: str | None = _help("The scene in words (None: not said).", None)
    batches: int = _help("Batches whose rules are voted on.", 3)
    per_batch: int = _help("Captions per batch.", 10)
    rules_per_answer: int = _help("Most rules asked for, and kept, per answer.", 8)
    min_votes: int | None = _help(
        "Fewest batches a rule must come from (None: half of the batches, rounded up).", None
    )
    merge_threshold: float = _help(
        "Cosine similarity at which two rules are paraphrases.", DEFAULT_MERGE_THRESHOLD
    )
    definitions: tuple[str, ...] = _help("Your own anomaly definitions, added as rules.", ())
    prompt: str = _help("Induction prompt: packaged name or YAML path.", DEFAULT_INDUCTION_PROMPT)
    max_new_tokens: int = _help("Token budget of one answer.", 128)
    seed: int = _help("Seed of the batch sampling.", 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "definitions", tuple(self.definitions))
        object.__setattr__(self, "prompt", str(self.prompt))
        _at_least(self.batches, 1, "batches")
        _at_least(self.per_batch, 1, "per_batch")
        _at_least(self.rules_per_answer, 1, "rules_per_answer")
        _at_least(self.max_new_tokens, 1, "max_new_tokens")
        if not 1 <= self.votes_needed <= self.batches:
            raise ConfigError(
                f"min_votes must lie in [1, {self.batches}] (the batches), got {self.min_votes}.",
                param="min_votes",
            )
        _unit_interval(self.merge_threshold, "merge_threshold", low_open=True)
        if any(not str(d).strip() for d in self.definitions):
            raise ConfigError(
                "One of the definitions is empty; write the anomalous event in words.",
                param="definitions",
            )

    @property
    def votes_needed(self) -> int:
        """``min_votes``, or half of the batches rounded up."""
        return math.ceil(self.batches / 2) if self.min_votes is None else self.min_votes


@dataclass(frozen=True)
class RecallConfig:
    """What to ask the model for when it writes a scene's memory (Flashback Recall).

    Attributes:
        scene: The scene, e.g. "a university campus walkway".
        size: Captions wanted in the memory, the definitions included: half anomalous
            (rounded down), the rest normal.
        definitions: The user's own anomalous events; each becomes an entry and gets its
            own requests.
        max_rounds: Most rounds (one batched call each); None for a budget that grows
            with the size (see :meth:`round_budget`).
        per_request: Captions asked for in one request; None for what one round of a
            perfect model needs, between 3 and 10 (see :meth:`request_size`).
        max_words: Longest caption kept, in words.
        min_words: Shortest caption kept, in words.
        shown: Accepted captions shown in one request, per side (repulsive prompting).
        dedup_threshold: Cosine similarity at or above which a caption is dropped as a
            near-duplicate of an accepted one of its label.
        conflict_threshold: Cosine similarity at or above which a caption is dropped for
            being too close to an accepted caption of the other label (repulsion).
        max_new_tokens: Token budget of one answer; None for ``max_words`` tokens per
            caption asked for (at least 48).
        seed: Seed of the first round (round r uses ``seed + r``) and of the samples
            shown.
        stall_rounds: Stop after this many rounds in a row that added nothing.
        prompt: Recall prompt: a packaged name or a YAML path.
    """

    scene: str = field(metadata={"help": "The scene, e.g. 'a university campus walkway'."})
    size: int = _help("Captions wanted in the memory (half anomalous).", 200)
    definitions: tuple[str, ...] = _help("Your own anomalous events (each becomes an entry).", ())
    max_rounds: int | None = _help("Round budget (None: grows with the size).", None)
    per_request: int | None = _help("Captions per request (None: 3 to 10 by size).", None)
    max_words: int = _help("Longest caption kept, in words.", 20)
    min_words: int = _help("Shortest caption kept, in words.", 2)
    shown: int = _help("Accepted captions shown per side in a request.", 8)
    dedup_threshold: float = _help(
        "Cosine at or above which a caption is a near-duplicate.", DEFAULT_DEDUP_THRESHOLD
    )
    conflict_threshold: float = _help(
        "Cosine at or above which a caption is too close to the other label.",
        DEFAULT_CONFLICT_THRESHOLD,
    )
    max_new_tokens: int | None = _help("Token budget of one answer (None: by size).", None)
    seed: int = _help("Seed of the first round and of the samples shown.", 0)
    stall_rounds: int = _help("Stop after this many rounds in a row that added nothing.", 3)
    prompt: str = _help("Recall prompt: packaged name or YAML path.", DEFAULT_RECALL_PROMPT)

    def __post_init__(self) -> None:
        object.__setattr__(self, "definitions", tuple(self.definitions))
        object.__setattr__(self, "prompt", str(self.prompt))
        if not self.scene.strip():
            raise ConfigError(
                "The scene is empty; describe it, e.g. 'a parking lot'.", param="scene"
            )
        _at_least(self.size, 2, "size", " captions")
        if any(not d.strip() for d in self.definitions):
            raise ConfigError(
                "One of the definitions is empty; write the anomalous event in words.",
                param="definitions",
            )
        if len(self.definitions) > self.anomalous_quota:
            raise ConfigError(
                f"{len(self.definitions)} definitions do not fit a memory of {self.size} "
                f"captions (at most {self.anomalous_quota} are anomalous); raise size.",
                param="size",
            )
        for name in (
            "max_rounds",
            "per_request",
            "max_words",
            "min_words",
            "stall_rounds",
            "max_new_tokens",
        ):
            _at_least(getattr(self, name), 1, name)
        if self.min_words > self.max_words:
            raise ConfigError(
                f"min_words ({self.min_words}) is above max_words ({self.max_words}).",
                param="min_words",
            )
        if self.shown < 0:
            raise ConfigError(f"shown must be 0 or more, got {self.shown}.", param="shown")
        _cosine(self.conflict_threshold, "conflict_threshold")
        _cosine(self.dedup_threshold, "dedup_threshold")

    @property
    def anomalous_quota(self) -> int:
        """Anomalous captions wanted (the definitions included)."""
        return self.size // 2

    @property
    def normal_quota(self) -> int:
        """Normal captions wanted."""
        return self.size - self.size // 2

    def request_size(self, categories: int) -> int:
        """Captions asked for per request.

        Args:
            categories: Categories of the recall prompt (each gets one request per round).

        Returns:
            ``per_request``, or else a label's quota spread over the categories, between 3
            and 10 (a small memory needs short answers).
        """
        if self.per_request is not None:
            return self.per_request
        quota = max(self.normal_quota, self.anomalous_quota)
        return min(10, max(3, math.ceil(quota / max(categories, 1))))

    def round_budget(self, categories: int) -> int:
        """Rounds allowed: ``max_rounds``, or four times the rounds a perfect model needs.

        A perfect model fills a label's quota in ``quota / (request_size * categories)``
        rounds; small models lose most lines to parsing and deduplication.

        Args:
            categories: Categories of the recall prompt.

        Returns:
            The round budget.
        """
        if self.max_rounds is not None:
            return self.max_rounds
        per_round = self.request_size(categories) * max(categories, 1)
        return max(5, 4 * math.ceil(max(self.normal_quota, self.anomalous_quota) / per_round))

    def answer_tokens(self, categories: int) -> int:
        """Token budget of one answer: ``max_new_tokens`` or ``max_words`` per caption."""
        return self.max_new_tokens or max(48, self.request_size(categories) * self.max_words)


@dataclass(frozen=True)
class DeductionConfig:
    """How frame descriptions are judged against rules (``RuleDeducer.from_config``).

    Attributes:
        method: ``keywords``, ``retrieval``, ``hybrid`` or ``llm``.
        smooth: Perception smoothing width in frames (0 turns it off).
        llm_budget: Most LLM calls per frame for ``hybrid`` (double checks included).
        llm_weight: How far an LLM verdict moves a frame's margin in ``hybrid``.
        scene_prior: Learn normal references from the descriptions themselves.
        prior_min_share: Share of frames a clause must appear in to count as normal.
        prior_max_margin: A frequent clause whose margin against the rules is at least
            this stays anomalous.
        prior_weight: Factor on similarities to the learned normal references.
        batch_size: Embedding batch size.
        judge_prompt: The LLM judge's prompt: a packaged name or a YAML path.
        video_norm: Share of each video's median frame margin subtracted before smoothing
            (``retrieval``, ``hybrid``; 0 turns it off).
    """

    method: str = _help("keywords, retrieval, hybrid or llm.", "retrieval")
    smooth: float = _help("Perception smoothing width in frames (0: off).", 32.0)
    llm_budget: float = _help("Most LLM calls per frame for hybrid.", 0.05)
    llm_weight: float = _help("How far an LLM verdict moves a margin in hybrid.", 0.2)
    scene_prior: bool = _help("Learn normal references from the descriptions.", True)
    prior_min_share: float = _help("Share of frames a clause needs to count as normal.", 0.01)
    prior_max_margin: float = _help(
        "A frequent clause at least this far past the rules stays anomalous.", 0.3
    )
    prior_weight: float = _help("Factor on similarities to the scene's references.", 0.7)
    batch_size: int = _help("Embedding batch size.", 128)
    judge_prompt: str = _help("LLM judge prompt: packaged name or YAML path.", DEFAULT_JUDGE_PROMPT)
    video_norm: float = _help("Share of each video's median margin subtracted (0: off).", 0.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "judge_prompt", str(self.judge_prompt))
        if self.method not in DEDUCTION_METHODS:
            raise ConfigError(
                f"Unknown deduction method '{self.method}'; use one of "
                f"{', '.join(DEDUCTION_METHODS)}.",
                param="method",
            )
        if not (math.isfinite(self.smooth) and self.smooth >= 0):
            raise ConfigError(
                f"smooth must be zero or more frames, got {self.smooth}.", param="smooth"
            )
        if not (math.isfinite(self.llm_budget) and self.llm_budget >= 0):
            raise ConfigError(
                f"llm_budget must be 0 or more LLM calls per frame, got {self.llm_budget}.",
                param="llm_budget",
            )
        if not math.isfinite(self.llm_weight):
            raise ConfigError(
                f"llm_weight must be a finite number, got {self.llm_weight}.", param="llm_weight"
            )
        _unit_interval(self.prior_min_share, "prior_min_share", low_open=True)
        _unit_interval(self.prior_weight, "prior_weight")
        if not math.isfinite(self.prior_max_margin):
            raise ConfigError(
                f"prior_max_margin must be a finite number, got {self.prior_max_margin}.",
                param="prior_max_margin",
            )
        _at_least(self.batch_size, 1, "batch_size")
        _unit_interval(self.video_norm, "video_norm")

    def matcher_options(self) -> dict[str, Any]:
        """The :class:`~vlad.reasoning.deduction.RuleMatcher` options of this config."""
        return {
            "prior_min_share": self.prior_min_share,
            "prior_max_margin": self.prior_max_margin,
            "prior_weight": self.prior_weight,
            "batch_size": self.batch_size,
        }
