"""Flashback "Recall": an LLM writes the pseudo-scene memory of a scene.

Given a scene ("a university campus walkway") and, optionally, the user's own definitions
of what is anomalous there, a chat model is asked, in rounds, for short captions (one event
per line) of normal and of anomalous events, per category (human activities, objects and
vehicles, environment) and per definition. Each round is one batched call to the backend.

*Repulsive prompting* keeps the two sides apart: a request for anomalous captions shows a
sample of the normal captions already accepted and asks for events clearly different from
them (and the other way round), and shows some accepted captions of its own side as ones
not to repeat. Temperature and seed change from round to round, so that repeated rounds
(and a cached backend) give new captions.

Answers are parsed tolerantly (:func:`parse_caption_lines`: numbering, bullets, quotes and
chatter are stripped; empty, too short or too long lines are dropped and counted), then
deduplicated: exact repeats, near-duplicates of the same label by embedding similarity
(:func:`~vlad.scoring.memory.near_duplicate_mask`), and captions close to one of the
*other* label (cosine :data:`DEFAULT_CONFLICT_THRESHOLD`), which would blur the memory.
Rounds go on until the memory holds ``size`` captions (half normal, half anomalous) or the
round budget is spent; the :class:`RecallReport` says how many were found.

The result is a :class:`~vlad.scoring.memory.MemoryIndex` whose entries have source
``llm:<model name>`` (``user`` for the definitions themselves) and a category.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.scoring.memory import (
    DEFAULT_ALPHA,
    DEFAULT_DEDUP_THRESHOLD,
    MemoryEntry,
    MemoryIndex,
    near_duplicate_mask,
)

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

log = logging.getLogger(__name__)

CATEGORIES: dict[str, str] = {
    "human activity": "what people do",
    "object or vehicle": "objects and vehicles that appear or move",
    "environment": "the environment: weather, light, fire, water, the state of the place",
}
"""Category name (stored on entries) -> how it is described to the model."""

DEFINED_CATEGORY = "defined"
"""Category of the user's definitions and of the captions written after them."""

USER_SOURCE = "user"
DEFAULT_CONFLICT_THRESHOLD = 0.85
"""A caption this similar to an accepted one of the other label is dropped: SmolLM2 wrote
"This is a car driving on the walkway" as normal beside the definition "a car driving on
the walkway" (MiniLM cosine about 0.9, under the 0.95 of near-duplicates)."""
TEMPERATURES = (0.7, 1.0, 0.85, 1.15, 0.6, 1.3)
"""Sampling temperature of round r is ``TEMPERATURES[r % len(TEMPERATURES)]``."""

SYSTEM_PROMPT = (
    "You write short captions of events seen by a surveillance camera. "
    "Write one event per line and nothing else."
)

_BULLET = re.compile(
    r"^\s*(?:[-*+•·–—>#]+|\(?\d{1,3}\s*[.):\]]|\(?[a-zA-Z][.)](?=\s)|\d{1,3}\s+-)\s*"
)
_LABEL_PREFIX = re.compile(
    r"^(?:caption|event|scene|normal(?:\s+event)?|anomal\w*(?:\s+event)?|unusual(?:\s+event)?)"
    r"\s*\d*\s*[:\-–]\s+",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"^(?:here (?:are|is)|sure\b|certainly|okay\b|ok\b|of course|i hope|i'm|i am|note\b|"
    r"these (?:are|captions)|the following|let me|as an ai|feel free)",
    re.IGNORECASE,
)
# "Mike: a man runs" or '"The Title" - a man runs': a speaker or title before the caption
_SPEAKER = re.compile(r"^(?:[A-Z][\w']*(?: [\w']+){0,2}\s*:|[\"“][^\"”]{1,60}[\"”]\s*[-–:])\s+")
_INLINE_NUMBERS = re.compile(r"(?:^|\s)\d{1,3}[.)]\s+")
# small models write paragraphs: one sentence is one event
_SENTENCE_END = re.compile(r"(?<=[a-z][.!?])\s+(?=[A-Z])")
_QUOTES = "\"'`“”‘’«»"
_MARKUP = re.compile(r"[*_~]+|</?\w+>")


@dataclass(frozen=True)
class RecallConfig:
    """What to ask the model for, and when to stop.

    Attributes:
        scene: The scene, e.g. "a university campus walkway".
        size: Captions wanted in the memory, the definitions included: half anomalous
            (rounded down), the rest normal.
        definitions: The user's own anomalous events; each becomes an entry and gets its
            own requests.
        max_rounds: Most rounds (one batched call each); None for a budget that grows
            with the size (see :meth:`round_budget`).
        per_request: Captions asked for in one request; None for what one round of a
            perfect model needs, between 3 and 10 (see :attr:`request_size`).
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
    """

    scene: str
    size: int = 200
    definitions: tuple[str, ...] = ()
    max_rounds: int | None = field(default=None, metadata={"help": "round budget"})
    per_request: int | None = field(default=None, metadata={"help": "captions per request"})
    max_words: int = field(default=20, metadata={"help": "longest caption kept, words"})
    min_words: int = field(default=2, metadata={"help": "shortest caption kept, words"})
    shown: int = field(default=8, metadata={"help": "accepted captions shown per side"})
    dedup_threshold: float = DEFAULT_DEDUP_THRESHOLD
    conflict_threshold: float = DEFAULT_CONFLICT_THRESHOLD
    max_new_tokens: int | None = None
    seed: int = 0
    stall_rounds: int = 3

    def __post_init__(self) -> None:
        if not self.scene.strip():
            raise ConfigError("The scene is empty; describe it, e.g. --scene 'a parking lot'.")
        if self.size < 2:
            raise ConfigError(f"--size must be at least 2 captions, got {self.size}.")
        if any(not d.strip() for d in self.definitions):
            raise ConfigError("A --define text is empty; write the anomalous event in words.")
        if len(self.definitions) > self.anomalous_quota:
            raise ConfigError(
                f"{len(self.definitions)} definitions do not fit a memory of {self.size} "
                f"captions (at most {self.anomalous_quota} are anomalous); raise --size."
            )
        if self.max_rounds is not None and self.max_rounds < 1:
            raise ConfigError(f"max_rounds must be at least 1, got {self.max_rounds}.")
        for name in ("per_request", "max_words", "min_words", "stall_rounds", "max_new_tokens"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.min_words > self.max_words:
            raise ConfigError(
                f"min_words ({self.min_words}) is above max_words ({self.max_words})."
            )
        if self.shown < 0:
            raise ConfigError(f"shown must be 0 or more, got {self.shown}.")
        if not -1 <= self.conflict_threshold <= 1:
            raise ConfigError(
                f"The conflict threshold must be in [-1, 1], got {self.conflict_threshold}."
            )
        if not -1 <= self.dedup_threshold <= 1:
            raise ConfigError(
                f"The dedup threshold must be in [-1, 1], got {self.dedup_threshold}."
            )

    @property
    def anomalous_quota(self) -> int:
        """Anomalous captions wanted (the definitions included)."""
        return self.size // 2

    @property
    def normal_quota(self) -> int:
        """Normal captions wanted."""
        return self.size - self.size // 2

    @property
    def request_size(self) -> int:
        """Captions asked for per request.

        ``per_request``, or else a label's quota spread over the categories, between 3 and
        10 (a small memory needs short answers).
        """
        if self.per_request is not None:
            return self.per_request
        quota = max(self.normal_quota, self.anomalous_quota)
        return min(10, max(3, math.ceil(quota / len(CATEGORIES))))

    def round_budget(self) -> int:
        """Rounds allowed: ``max_rounds``, or four times the rounds a perfect model needs.

        A perfect model fills a label's quota in ``quota / (request_size * categories)``
        rounds; small models lose most lines to parsing and deduplication.
        """
        if self.max_rounds is not None:
            return self.max_rounds
        per_round = self.request_size * len(CATEGORIES)
        return max(5, 4 * math.ceil(max(self.normal_quota, self.anomalous_quota) / per_round))

    def settings(self, round_index: int) -> GenerationSettings:
        """Generation settings of one round: its temperature and seed."""
        budget = self.max_new_tokens or max(48, self.request_size * self.max_words)
        return GenerationSettings(
            max_new_tokens=budget,
            temperature=TEMPERATURES[round_index % len(TEMPERATURES)],
            top_p=0.95,
            seed=self.seed + round_index,
        )


@dataclass
class RecallReport:
    """What a recall run did.

    Attributes:
        rounds: Rounds run.
        requests: Requests sent (one answer each).
        empty_answers: Answers that held no usable caption (a counted parse failure).
        lines: Caption lines parsed from the answers.
        rejected: Lines dropped, by reason (``too short``, ``too long``, ``chatter``,
            ``repeat``, ``near duplicate``, ``other label``, ``over quota``).
        normal: Normal captions in the memory.
        anomalous: Anomalous captions in the memory (the definitions included).
        size: Captions wanted.
        stopped: Why the rounds stopped: ``size reached``, ``round budget`` or ``stalled``.
    """

    rounds: int = 0
    requests: int = 0
    empty_answers: int = 0
    lines: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    normal: int = 0
    anomalous: int = 0
    size: int = 0
    stopped: str = ""

    @property
    def count(self) -> int:
        """Captions in the memory."""
        return self.normal + self.anomalous

    @property
    def complete(self) -> bool:
        """Whether the memory reached the size asked for."""
        return self.count >= self.size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rounds": self.rounds,
            "requests": self.requests,
            "empty_answers": self.empty_answers,
            "lines": self.lines,
            "rejected": dict(sorted(self.rejected.items())),
            "normal": self.normal,
            "anomalous": self.anomalous,
            "count": self.count,
            "size": self.size,
            "stopped": self.stopped,
        }

    def summary(self) -> str:
        """One sentence for a person."""
        head = f"Recalled {self.count} of {self.size} captions ({self.normal} normal, "
        head += f"{self.anomalous} anomalous) in {self.rounds} rounds of {self.requests} requests"
        if self.complete:
            return head + "."
        return (
            head + f"; stopped early ({self.stopped}): raise --rounds, use a stronger --llm or "
            "lower --size."
        )


# ------------------------------------------------------------------------------ parsing


def caption_key(text: str) -> str:
    """What two captions must share to be exact repeats: lower-case words only."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _clean_line(line: str) -> str:
    text = _MARKUP.sub("", line).strip()
    for _ in range(3):  # "1. - \"A man...\"" needs several passes
        before = text
        text = _BULLET.sub("", text).strip()
        text = _LABEL_PREFIX.sub("", text).strip()
        text = _SPEAKER.sub("", text).strip()
        text = text.strip(_QUOTES).strip()
        if text == before:
            break
    text = re.sub(r"\s+", " ", text).rstrip(" .,;:!").strip(_QUOTES).strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text


def _split_lines(answer: str) -> list[str]:
    pieces: list[str] = []
    for line in answer.splitlines():
        # "1. a man runs 2. a dog barks" on one line: split at the inline numbers.
        if len(_INLINE_NUMBERS.findall(line)) >= 2:
            parts = [p for p in _INLINE_NUMBERS.split(line) if p.strip()]
        else:
            parts = [line]
        for part in parts:
            pieces.extend(_SENTENCE_END.split(part))
    return pieces


def parse_caption_lines(
    answer: str, *, min_words: int = 2, max_words: int = 20, rejected: Counter[str] | None = None
) -> list[str]:
    """Captions in a model's answer, one per line, cleaned; in answer order.

    A line of several sentences is split into them (small models write paragraphs).
    Numbering (``1.``, ``2)``, ``(a)``), bullets, Markdown emphasis, label prefixes such
    as ``Anomalous event:``, short speaker or title prefixes (``Mike:``, ``"Title" -``)
    and surrounding quotes are stripped, whitespace is collapsed,
    a trailing full stop is dropped and the first letter is capitalised. Lines are dropped
    (and counted in ``rejected`` by reason) when they are empty, headers (ending with a
    colon) or chatter ("Here are ...": ``chatter``), shorter than ``min_words`` words
    (``too short``) or longer than ``max_words`` words (``too long``), or repeat an earlier
    line of the same answer (``repeat``).

    Args:
        answer: The model's text.
        min_words: Fewest words a caption may have.
        max_words: Most words a caption may have.
        rejected: Counter updated with the reasons lines were dropped.

    Returns:
        The captions.
    """
    counts = rejected if rejected is not None else Counter()
    captions: list[str] = []
    seen: set[str] = set()
    for raw in _split_lines(answer):
        if not raw.strip():
            continue
        if raw.rstrip().endswith((":", "?")) or _CHATTER.match(
            _MARKUP.sub("", raw).strip(" -*#\t")
        ):
            counts["chatter"] += 1
            continue
        text = _clean_line(raw)
        words = len(text.split())
        if words < min_words:
            counts["too short"] += 1
            continue
        if words > max_words:
            counts["too long"] += 1
            continue
        key = caption_key(text)
        if not key or key in seen:
            counts["repeat"] += 1
            continue
        seen.add(key)
        captions.append(text)
    return captions


# ------------------------------------------------------------------------------ prompts


@dataclass(frozen=True)
class RecallRequest:
    """One request of a round: which label and category it asks captions for.

    Attributes:
        label: ``"normal"`` or ``"anomalous"``.
        category: A key of :data:`CATEGORIES`, or :data:`DEFINED_CATEGORY`.
        definition: The user's definition the request follows, for ``defined`` requests.
    """

    label: str
    category: str
    definition: str | None = None


def _listing(title: str, captions: Sequence[str]) -> str:
    return title + "\n" + "\n".join(f"- {c}" for c in captions) + "\n"


def recall_prompt(
    scene: str,
    request: RecallRequest,
    *,
    count: int,
    max_words: int,
    other_side: Sequence[str] = (),
    same_side: Sequence[str] = (),
) -> Conversation:
    """The conversation of one request, with repulsive examples.

    Args:
        scene: The scene.
        request: What to ask for.
        count: Captions asked for.
        max_words: Longest caption wanted, in words.
        other_side: Accepted captions of the other label, shown as events to stay clearly
            different from.
        same_side: Accepted captions of the same label, shown as ones not to repeat.

    Returns:
        A system and a user message.
    """
    if request.label == "normal":
        kind = "normal, everyday events that are expected"
        other_name = "anomalous"
    else:
        kind = "anomalous events: unusual, dangerous or forbidden things that should raise an alarm"
        other_name = "normal"
    if request.definition is not None:
        about = f"that match this description of an anomaly: {request.definition}"
        about += "; vary who or what is involved and where"
    else:
        about = f"about {CATEGORIES[request.category]}"
    parts = [
        f"Scene: {scene}.\n",
        f"Write {count} short captions of {kind} in this scene, {about}.",
        f" One event per line, at most {max_words} words each, no numbering, no other text.\n",
    ]
    if other_side:
        parts.append(
            _listing(
                f"These are {other_name} events; your events must be clearly different from them:",
                other_side,
            )
        )
    if same_side:
        parts.append(_listing("Do not repeat these:", same_side))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "".join(parts).rstrip()},
    ]


# ------------------------------------------------------------------------------ recall


@dataclass
class _Side:
    """Accepted captions of one label, with their embeddings."""

    label: str
    quota: int
    entries: list[MemoryEntry] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.quota

    def matrix(self, dim: int) -> np.ndarray:
        if not self.embeddings:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack(self.embeddings).astype(np.float32, copy=False)

    def add(self, entry: MemoryEntry, embedding: np.ndarray) -> None:
        self.entries.append(entry)
        self.embeddings.append(embedding)
        self.keys.add(caption_key(entry.text))


def _requests(config: RecallConfig, sides: dict[str, _Side]) -> list[RecallRequest]:
    requests: list[RecallRequest] = []
    for label in ("normal", "anomalous"):
        if sides[label].full:
            continue
        requests.extend(RecallRequest(label, category) for category in CATEGORIES)
        if label == "anomalous":
            requests.extend(
                RecallRequest(label, DEFINED_CATEGORY, definition)
                for definition in config.definitions
            )
    return requests


def _sample(texts: Sequence[str], count: int, rng: np.random.Generator) -> list[str]:
    if len(texts) <= count:
        return list(texts)
    picks = np.sort(rng.choice(len(texts), size=count, replace=False))
    return [texts[i] for i in picks]


def recall_captions(
    backend: ChatBackend,
    embedder: TextEmbedder,
    config: RecallConfig,
    *,
    progress: bool = True,
) -> tuple[list[MemoryEntry], np.ndarray, RecallReport]:
    """Ask the model for captions, in rounds, until the memory is full or the budget spent.

    Args:
        backend: The chat model (wrap it in a
            :class:`~vlad.reasoning.registry.CachedBackend` to answer repeats from disk).
        embedder: Embeds captions for deduplication (and for the memory).
        config: Scene, size, definitions and limits.
        progress: Show a progress bar over rounds on stderr.

    Returns:
        The entries (normal first, then anomalous, each in acceptance order), their unit
        embeddings (float32, one row per entry) and the report. Fewer entries than
        ``config.size`` when the budget ran out (the report says so).

    Raises:
        InputError: The embedder returns rows of the wrong shape.
    """
    from tqdm import tqdm

    dim = int(embedder.dim)
    source = f"llm:{backend.name}"
    sides = {
        "normal": _Side("normal", config.normal_quota),
        "anomalous": _Side("anomalous", config.anomalous_quota),
    }
    report = RecallReport(size=config.size)
    if config.definitions:
        _accept(
            [
                MemoryEntry(d.strip(), "anomalous", DEFINED_CATEGORY, USER_SOURCE)
                for d in config.definitions
            ],
            sides,
            embedder,
            config,
            report,
            force=True,
        )
    rng = np.random.default_rng(config.seed)
    budget = config.round_budget()
    stalled = 0
    with tqdm(
        total=budget, unit="round", desc="recall", disable=not progress, file=sys.stderr
    ) as bar:
        for round_index in range(budget):
            requests = _requests(config, sides)
            if not requests:
                break
            conversations = []
            for request in requests:
                own = sides[request.label]
                other = sides["anomalous" if request.label == "normal" else "normal"]
                conversations.append(
                    recall_prompt(
                        config.scene,
                        request,
                        count=config.request_size,
                        max_words=config.max_words,
                        other_side=_sample([e.text for e in other.entries], config.shown, rng),
                        same_side=_sample([e.text for e in own.entries], config.shown, rng),
                    )
                )
            answers = backend.chat(conversations, config.settings(round_index))
            if len(answers) != len(conversations):
                raise InputError(
                    f"The LLM {backend.name} gave {len(answers)} answers to {len(conversations)} "
                    "requests; check the backend."
                )
            report.rounds += 1
            report.requests += len(requests)
            candidates: list[MemoryEntry] = []
            for request, answer in zip(requests, answers, strict=True):
                lines = parse_caption_lines(
                    answer,
                    min_words=config.min_words,
                    max_words=config.max_words,
                    rejected=report.rejected,
                )
                if not lines:
                    report.empty_answers += 1
                report.lines += len(lines)
                candidates.extend(
                    MemoryEntry(text, request.label, request.category, source) for text in lines
                )
            added = _accept(candidates, sides, embedder, config, report)
            stalled = 0 if added else stalled + 1
            bar.update(1)
            bar.set_postfix(
                normal=f"{len(sides['normal'].entries)}/{config.normal_quota}",
                anomalous=f"{len(sides['anomalous'].entries)}/{config.anomalous_quota}",
            )
            if stalled >= config.stall_rounds:
                report.stopped = "stalled"
                break
    report.normal = len(sides["normal"].entries)
    report.anomalous = len(sides["anomalous"].entries)
    if not report.stopped:
        report.stopped = "size reached" if report.complete else "round budget"
    if report.empty_answers:
        log.warning(
            "%d of %d LLM answers held no usable caption line.",
            report.empty_answers,
            report.requests,
        )
    entries = sides["normal"].entries + sides["anomalous"].entries
    matrix = np.concatenate([sides["normal"].matrix(dim), sides["anomalous"].matrix(dim)])
    return entries, matrix, report


def _accept(
    candidates: Sequence[MemoryEntry],
    sides: dict[str, _Side],
    embedder: TextEmbedder,
    config: RecallConfig,
    report: RecallReport,
    *,
    force: bool = False,
) -> int:
    """Add the candidates that are new, far from the other label and within quota.

    ``force`` (the user's definitions) skips the similarity checks but not exact repeats.
    Returns how many were added.
    """
    fresh: list[MemoryEntry] = []
    keys: dict[str, str] = {}
    for entry in candidates:
        key = caption_key(entry.text)
        other = "anomalous" if entry.label == "normal" else "normal"
        if key in sides[other].keys or keys.get(key, entry.label) != entry.label:
            report.rejected["other label"] += 1
            continue
        if key in sides[entry.label].keys or key in keys:
            report.rejected["repeat"] += 1
            continue
        keys[key] = entry.label
        fresh.append(entry)
    if not fresh:
        return 0
    from vlad.scoring.memory import embed_texts

    rows = embed_texts([e.text for e in fresh], embedder, progress=False)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    dim = rows.shape[1]
    added = 0
    for label, other in (("normal", "anomalous"), ("anomalous", "normal")):
        side = sides[label]
        picks = [i for i, e in enumerate(fresh) if e.label == label]
        if not picks:
            continue
        new_rows = rows[picks]
        keep = np.ones(len(picks), dtype=bool)
        if not force:
            opposite = sides[other].matrix(dim)
            if opposite.shape[0]:
                close = (new_rows @ opposite.T).max(axis=1) >= config.conflict_threshold
                report.rejected["other label"] += int(close.sum())
                keep &= ~close
            accepted = side.matrix(dim)
            stacked = np.concatenate([accepted, new_rows])
            mask = near_duplicate_mask(
                stacked, np.zeros(stacked.shape[0], dtype=bool), config.dedup_threshold
            )[accepted.shape[0] :]
            report.rejected["near duplicate"] += int((keep & ~mask).sum())
            keep &= mask
        for position in np.flatnonzero(keep):
            if side.full and not force:
                report.rejected["over quota"] += 1
                continue
            side.add(fresh[picks[position]], new_rows[position])
            added += 1
    return added


def build_scene_memory(
    backend: ChatBackend,
    embedder: TextEmbedder,
    config: RecallConfig,
    *,
    alpha: float = DEFAULT_ALPHA,
    embedder_spec: str | None = None,
    progress: bool = True,
) -> tuple[MemoryIndex, RecallReport]:
    """Recall captions for a scene and make them a memory (save it with ``save``).

    Args:
        backend: The chat model.
        embedder: The text embedder of the memory (use the CLIP text tower,
            ``clip:ARCH@WEIGHTS``, to score video frames against it).
        config: Scene, size, definitions and limits.
        alpha: Penalisation stored in the manifest.
        embedder_spec: Spec that reloads the embedder, stored in the manifest.
        progress: Show a progress bar over rounds.

    Returns:
        The memory and the report.

    Raises:
        InputError: The model gave no usable caption of one label at all.
    """
    entries, embeddings, report = recall_captions(backend, embedder, config, progress=progress)
    for label, found in (("normal", report.normal), ("anomalous", report.anomalous)):
        if not found:
            raise InputError(
                f"The LLM {backend.name} wrote no usable {label} caption for the scene "
                f"'{config.scene}' in {report.rounds} rounds; use a stronger --llm or more "
                "--rounds."
            )
    memory = MemoryIndex.from_entries(
        entries,
        embeddings,
        embedder=embedder.name,
        alpha=alpha,
        embedder_spec=embedder_spec,
        dedup_threshold=config.dedup_threshold,
        removed_duplicates=sum(
            report.rejected[r] for r in ("repeat", "near duplicate", "other label")
        ),
    )
    return memory, report
