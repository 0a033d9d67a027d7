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
import os
import re
import string
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.config.reasoning import (
    DEFAULT_RECALL_PROMPT,
    RecallConfig,
)
from vlad.errors import ConfigError, InputError
from vlad.prompts.files import read_prompt_yaml
from vlad.reasoning.checks import (
    BREAK,
    CONTRADICTS_LABEL,
    FRAGMENT,
    PROMPT_ECHO,
    contradicts_label,
    describe_drops,
    echoes_prompt,
    instruction_pieces,
    is_fragment,
)
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.scoring.memory import (
    DEFAULT_ALPHA,
    MemoryEntry,
    MemoryIndex,
    near_duplicate_mask,
)

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder

log = logging.getLogger(__name__)

RECALL_KIND = "Recall"
DEFINED_CATEGORY = "defined"
"""Category of the user's definitions and of the captions written after them."""

USER_SOURCE = "user"
TEMPERATURES = (0.7, 1.0, 0.85, 1.15, 0.6, 1.3)
"""Sampling temperature of round r is ``TEMPERATURES[r % len(TEMPERATURES)]``."""


@dataclass(frozen=True)
class RecallPrompt:
    """The recall templates, kept as versioned data (``vlad/prompts/recall.yaml``).

    Attributes:
        name: The prompt's name.
        version: Its version.
        system: The system message.
        categories: Category name (stored on entries) -> how it is described to the model.
        labels: ``normal`` and ``anomalous`` -> how that kind of event is described.
        about_category: How a category request is put; ``{category}`` is its description.
        about_definition: How a definition request is put; ``{definition}`` is the text.
        request: The request; ``{scene}``, ``{count}``, ``{kind}``, ``{about}``,
            ``{max_words}``.
        other_side: Heading of the other label's accepted captions; ``{other}``.
        same_side: Heading of the same label's accepted captions.
    """

    name: str
    version: int
    system: str
    categories: dict[str, str]
    labels: dict[str, str]
    about_category: str
    about_definition: str
    request: str
    other_side: str
    same_side: str

    def __post_init__(self) -> None:
        if not self.categories:
            raise ConfigError(f"Recall prompt '{self.name}' has no categories; add one.")
        if set(self.labels) != {"normal", "anomalous"}:
            raise ConfigError(
                f"Recall prompt '{self.name}' needs 'labels' with 'normal' and 'anomalous'."
            )
        slots = {
            "about_category": {"category"},
            "about_definition": {"definition"},
            "request": {"scene", "count", "kind", "about", "max_words"},
            "other_side": {"other"},
            "same_side": set(),
        }
        for key, allowed in slots.items():
            found = {f for _, f, _, _ in string.Formatter().parse(getattr(self, key)) if f}
            if found - allowed:
                raise ConfigError(
                    f"Recall prompt '{self.name}': '{key}' has an unknown placeholder "
                    f"{{{sorted(found - allowed)[0]}}}; use only "
                    f"{', '.join('{' + a + '}' for a in sorted(allowed)) or 'none'}."
                )


def load_recall_prompt(
    name_or_path: str | os.PathLike[str] = DEFAULT_RECALL_PROMPT,
) -> RecallPrompt:
    """Load the packaged recall prompt by name, or a user's YAML file by path.

    Raises:
        ConfigError: The file is missing or malformed.
    """
    if os.fspath(name_or_path) == DEFAULT_RECALL_PROMPT:
        return _packaged_recall_prompt()
    return _read_recall_prompt(name_or_path)


@lru_cache(maxsize=1)
def _packaged_recall_prompt() -> RecallPrompt:
    return _read_recall_prompt(DEFAULT_RECALL_PROMPT)


def _read_recall_prompt(name_or_path: str | os.PathLike[str]) -> RecallPrompt:
    data, source = read_prompt_yaml(name_or_path, RECALL_KIND)
    texts = ("system", "about_category", "about_definition", "request", "other_side", "same_side")
    if (
        not isinstance(data, dict)
        or not all(isinstance(data.get(k), str) for k in texts)
        or not isinstance(data.get("categories"), dict)
        or not isinstance(data.get("labels"), dict)
    ):
        raise ConfigError(
            f"Recall prompt file {source} needs 'categories', 'labels' and the texts "
            f"{', '.join(repr(k) for k in texts)}."
        )
    return RecallPrompt(
        name=str(data.get("name") or source),
        version=int(data.get("version", 1)),
        system=" ".join(data["system"].split()),
        categories={str(k): str(v) for k, v in data["categories"].items()},
        labels={str(k): " ".join(str(v).split()) for k, v in data["labels"].items()},
        about_category=" ".join(data["about_category"].split()),
        about_definition=" ".join(data["about_definition"].split()),
        request=data["request"],
        other_side=data["other_side"],
        same_side=data["same_side"],
    )


def __getattr__(name: str) -> Any:
    # The packaged prompt's texts, read on first use rather than at import.
    if name == "CATEGORIES":
        return dict(load_recall_prompt().categories)
    if name == "SYSTEM_PROMPT":
        return load_recall_prompt().system
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_BULLET = re.compile(
    r"^\s*(?:[-*+•·–—>#]+|\(?\d{1,3}\s*[.):\]]|\(?[a-zA-Z][.)](?=\s)|\d{1,3}\s+-)\s*"
)
_LABEL_PREFIX = re.compile(
    r"^(?:caption|event|scene|normal(?:\s+event)?|anomal\w*(?:\s+event)?|unusual(?:\s+event)?)"
    r"\s*\d*\s*(?:[:\-–]\s+|\|\s*)",
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


def round_settings(config: RecallConfig, round_index: int, categories: int) -> GenerationSettings:
    """Generation settings of one round: its temperature and seed.

    Args:
        config: The recall settings.
        round_index: The round, from 0.
        categories: Categories of the recall prompt.

    Returns:
        The settings (temperature ``TEMPERATURES[round % 6]``, seed ``config.seed + round``).
    """
    return GenerationSettings(
        max_new_tokens=config.answer_tokens(categories),
        temperature=TEMPERATURES[round_index % len(TEMPERATURES)],
        top_p=0.95,
        seed=config.seed + round_index,
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
            ``prompt echo``, ``contradicts its label``, ``fragment``, ``repeat``,
            ``near duplicate``, ``other label``, ``over quota``).
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
    def dropped(self) -> int:
        """Lines of the model's answers that were not kept, for any reason."""
        return sum(self.rejected.values())

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
            "rejected": {k: n for k, n in sorted(self.rejected.items()) if n},
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
        if self.dropped:
            head += f", {self.dropped} lines dropped ({describe_drops(self.rejected)})"
        if self.complete:
            return head + "."
        return (
            head + f"; stopped early ({self.stopped}): allow more rounds (max_rounds), use a "
            "stronger LLM or ask for a smaller size."
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
    answer: str,
    *,
    min_words: int = 2,
    max_words: int = 20,
    rejected: Counter[str] | None = None,
    label: str | None = None,
    instructions: Sequence[str] = (),
) -> list[str]:
    """Captions in a model's answer, one per line, cleaned and checked; in answer order.

    A line of several sentences is split into them (small models write paragraphs).
    Numbering (``1.``, ``2)``, ``(a)``), bullets, Markdown emphasis, label prefixes such
    as ``Anomalous event:``, short speaker or title prefixes (``Mike:``, ``"Title" -``)
    and surrounding quotes are stripped, whitespace is collapsed,
    a trailing full stop is dropped and the first letter is capitalised. Lines are dropped
    (and counted in ``rejected`` by reason) when they are empty, headers (ending with a
    colon) or chatter ("Here are ...": ``chatter``), shorter than ``min_words`` words
    (``too short``) or longer than ``max_words`` words (``too long``), or repeat an earlier
    line of the same answer (``repeat``). The checks of :mod:`vlad.reasoning.checks` drop
    a line that echoes the ``instructions`` (``prompt echo``), states another verdict than
    ``label`` ("normal | A car driving on the walkway is not normal": ``contradicts its
    label``) or is cut off ("A car drives on the": ``fragment``).

    Args:
        answer: The model's text.
        min_words: Fewest words a caption may have.
        max_words: Most words a caption may have.
        rejected: Counter updated with the reasons lines were dropped.
        label: The label the captions were asked for (``normal`` or ``anomalous``);
            None skips the label check.
        instructions: The instruction pieces of the prompt
            (:func:`~vlad.reasoning.checks.instruction_pieces`); empty skips the echo check.

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
        if instructions and echoes_prompt(raw, instructions):
            counts[PROMPT_ECHO] += 1
            continue
        if label is not None and contradicts_label(raw, label):
            counts[CONTRADICTS_LABEL] += 1
            continue
        text = _clean_line(raw)
        words = len(text.split())
        if words < min_words:
            counts["too short"] += 1
            continue
        if words > max_words:
            counts["too long"] += 1
            continue
        if is_fragment(text):
            counts[FRAGMENT] += 1
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
        category: A category of the recall prompt (:data:`CATEGORIES` for the packaged
            one), or :data:`DEFINED_CATEGORY`.
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
    prompt: RecallPrompt | None = None,
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
        prompt: The recall templates (default: the packaged ``recall`` prompt).

    Returns:
        A system and a user message.
    """
    prompt = prompt or load_recall_prompt()
    other_name = "anomalous" if request.label == "normal" else "normal"
    if request.definition is not None:
        about = prompt.about_definition.format(definition=request.definition)
    else:
        about = prompt.about_category.format(category=prompt.categories[request.category])
    parts = [
        prompt.request.format(
            scene=scene,
            count=count,
            kind=prompt.labels[request.label],
            about=about,
            max_words=max_words,
        )
    ]
    if other_side:
        parts.append(_listing(prompt.other_side.format(other=other_name), other_side))
    if same_side:
        parts.append(_listing(prompt.same_side, same_side))
    return [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": "".join(parts).rstrip()},
    ]


def recall_instructions(
    request: RecallRequest, *, count: int, max_words: int, prompt: RecallPrompt | None = None
) -> list[str]:
    """The instruction pieces of one request, for the echo check.

    Its data (the scene, a definition, the captions shown) is left out.

    Args:
        request: What is asked for.
        count: Captions asked for.
        max_words: Longest caption wanted, in words.
        prompt: The recall templates (default: the packaged ``recall`` prompt).

    Returns:
        The pieces (:func:`~vlad.reasoning.checks.instruction_pieces`).
    """
    prompt = prompt or load_recall_prompt()
    if request.definition is not None:
        about = prompt.about_definition.format(definition=BREAK)
    else:
        about = prompt.about_category.format(category=prompt.categories[request.category])
    return instruction_pieces(
        prompt.system,
        prompt.request.format(
            scene=BREAK,
            count=count,
            kind=prompt.labels[request.label],
            about=about,
            max_words=max_words,
        ),
        prompt.other_side.format(other=BREAK),
        prompt.same_side,
    )


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


def _requests(
    config: RecallConfig, sides: dict[str, _Side], prompt: RecallPrompt
) -> list[RecallRequest]:
    requests: list[RecallRequest] = []
    for label in ("normal", "anomalous"):
        if sides[label].full:
            continue
        requests.extend(RecallRequest(label, category) for category in prompt.categories)
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

    prompt = load_recall_prompt(config.prompt)
    categories = len(prompt.categories)
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
    budget = config.round_budget(categories)
    stalled = 0
    with tqdm(
        total=budget, unit="round", desc="recall", disable=not progress, file=sys.stderr
    ) as bar:
        for round_index in range(budget):
            requests = _requests(config, sides, prompt)
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
                        count=config.request_size(categories),
                        max_words=config.max_words,
                        other_side=_sample([e.text for e in other.entries], config.shown, rng),
                        same_side=_sample([e.text for e in own.entries], config.shown, rng),
                        prompt=prompt,
                    )
                )
            answers = backend.chat(conversations, round_settings(config, round_index, categories))
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
                    label=request.label,
                    instructions=recall_instructions(
                        request,
                        count=config.request_size(categories),
                        max_words=config.max_words,
                        prompt=prompt,
                    ),
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
                f"'{config.scene}' in {report.rounds} rounds"
                + (
                    f" ({report.dropped} lines dropped: {describe_drops(report.rejected)})"
                    if report.dropped
                    else ""
                )
                + "; use a stronger LLM or allow more rounds.",
                param="max_rounds",
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
