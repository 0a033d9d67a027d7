"""Rule induction from normal references, with aggregation by voting (AnomalyRuler).

References are descriptions of normal frames: lines of a caption file, or captions a
vision-language model writes for normal images and video frames
(:mod:`vlad.reasoning.perception`). They are split into ``batches`` random batches of
``per_batch`` captions. For each batch and category (human activities, non-human objects)
an LLM is asked first for the normal rules the captions show, then, compared with those,
for rules of what would be anomalous (prompts in ``vlad/prompts/rule-induction.yaml``).

*Rule aggregation* drops wrong rules: the rules of all batches are embedded (MiniLM by
default), paraphrases are merged when their cosine similarity reaches
``merge_threshold``, and a merged rule is kept when it came from at least ``min_votes``
batches (default: half of them, rounded up). An anomaly rule as similar as that to a
normal rule contradicts the normal rules and is dropped. Answers are parsed tolerantly
(numbered lists, bullets, headers, chatter), since small models wander.

The result is a :class:`~vlad.reasoning.rules.RuleSet` with provenance; the user's own
definitions are added as anomaly rules.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.config.reasoning import (
    DEFAULT_INDUCTION_PROMPT,
    DEFAULT_MERGE_THRESHOLD,
    InductionConfig,
)
from vlad.errors import ConfigError, InputError
from vlad.prompts.files import read_prompt_yaml
from vlad.reasoning.checks import (
    BREAK,
    CONTRADICTS_LABEL,
    COPIED_INPUT,
    FRAGMENT,
    PROMPT_ECHO,
    contradicts_label,
    copied_from,
    describe_drops,
    echoes_prompt,
    instruction_pieces,
    is_fragment,
)
from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings
from vlad.reasoning.rules import (
    Rule,
    RuleKind,
    RuleSet,
    clean_item,
    header_section,
    list_items,
    rule_id,
)

if TYPE_CHECKING:
    from vlad.encoders.text import TextEmbedder
    from vlad.reasoning.perception import FrameCaptioner

log = logging.getLogger(__name__)

INDUCTION_KIND = "Induction"
DEFAULT_SCENE_LINE = "The camera watches {scene}.\n"
DEFAULT_NONE_LISTED = "(none listed)"
CAPTION_SUFFIXES = (".txt", ".jsonl")
MAX_RULE_WORDS = 25
_CHATTER = re.compile(
    r"^(?:here (?:are|is)|sure|certainly|of course|okay|ok\b|note|these are|the following|"
    r"i (?:hope|think|can|cannot|can't|do not|don't|am|'m)\b|as an ai|based on)",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[\s.;,]+$")


@dataclass(frozen=True)
class InductionPrompt:
    """The induction templates, kept as versioned data.

    Attributes:
        name: The prompt's name.
        version: Its version.
        system: The system message ("" sends none).
        categories: Category name (stored on rules) -> its words in the prompts.
        normal: Template asking for normal rules from ``{captions}``.
        anomaly: Template asking for anomaly rules compared with ``{rules}``.
        scene_line: The sentence naming the scene (``{scene}`` in the templates); its own
            ``{scene}`` is the scene in words. Empty when no scene is given.
        none_listed: What ``{rules}`` says when a batch found no normal rule.
    """

    name: str
    version: int
    system: str
    categories: dict[str, str]
    normal: str
    anomaly: str
    scene_line: str = DEFAULT_SCENE_LINE
    none_listed: str = DEFAULT_NONE_LISTED

    def __post_init__(self) -> None:
        if not self.categories:
            raise ConfigError(f"Induction prompt '{self.name}' has no categories; add one.")
        for key, needed in (("normal", "{captions}"), ("anomaly", "{rules}")):
            if needed not in getattr(self, key):
                raise ConfigError(
                    f"Induction prompt '{self.name}': the '{key}' template needs {needed}."
                )


def load_induction_prompt(
    name_or_path: str | os.PathLike[str] = DEFAULT_INDUCTION_PROMPT,
) -> InductionPrompt:
    """Load the packaged induction prompt by name, or a user's YAML file by path.

    Raises:
        ConfigError: The file is missing or malformed.
    """
    data, source = read_prompt_yaml(name_or_path, INDUCTION_KIND)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("normal"), str)
        or not isinstance(data.get("anomaly"), str)
        or not isinstance(data.get("categories"), dict)
    ):
        raise ConfigError(
            f"Induction prompt file {source} needs 'categories', 'normal' and 'anomaly'."
        )
    return InductionPrompt(
        name=str(data.get("name") or Path(source).stem),
        version=int(data.get("version", 1)),
        system=" ".join(str(data.get("system") or "").split()),
        categories={str(k): str(v) for k, v in data["categories"].items()},
        normal=data["normal"],
        anomaly=data["anomaly"],
        scene_line=str(data.get("scene_line", DEFAULT_SCENE_LINE)),
        none_listed=str(data.get("none_listed", DEFAULT_NONE_LISTED)),
    )


def parse_rule_answer(text: str, *, limit: int | None = None) -> list[str]:
    """The rules in an LLM's answer: list items, else plain lines; cleaned and deduplicated.

    Numbered and bulleted items are taken when there are any; otherwise each non-empty
    line that is not chatter ("Here are ...") or a header (ending with ':') is one rule.
    Markdown emphasis and trailing full stops are removed; rules longer than
    :data:`MAX_RULE_WORDS` words and repeats (ignoring case) are dropped.

    Args:
        text: The model's answer.
        limit: Keep at most this many rules (small models repeat themselves at length).

    Returns:
        The rules, in answer order.
    """
    items = list_items(text)
    if not items:
        items = []
        for line in text.splitlines():
            plain = clean_item(line.strip().lstrip("#>").strip())
            if (
                not plain
                or plain.endswith(":")
                or header_section(line) is not None
                or _CHATTER.match(plain)
            ):
                continue
            items.append(plain)
    rules: list[str] = []
    seen: set[str] = set()
    for item in items:
        rule = _TRAILING.sub("", item.strip().strip("\"'"))
        if rule.endswith(":") or _CHATTER.match(rule):
            continue
        words = len(rule.split())
        if not words or words > MAX_RULE_WORDS:
            continue
        key = rule.lower()
        if key in seen:
            continue
        seen.add(key)
        rules.append(rule[0].upper() + rule[1:])
        if limit is not None and len(rules) >= limit:
            break
    return rules


# ---------------------------------------------------------------------------- references


@dataclass(frozen=True)
class References:
    """Descriptions of normal frames, and where they came from.

    Attributes:
        captions: The descriptions, exact repeats removed, in first-seen order.
        sources: The reference paths as given.
        counts: How many captions came from caption files, images and video frames.
    """

    captions: tuple[str, ...]
    sources: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)


def read_caption_file(path: str | os.PathLike[str]) -> list[str]:
    """Captions from a ``.txt`` file (one per line) or a ``.jsonl`` file.

    A JSON line is a string or an object with ``text`` (or ``caption``); objects whose
    ``label`` is ``anomalous``/``anomaly``/``abnormal`` are skipped, since references
    are normal.

    Raises:
        InputError: The file is missing, unreadable, has a bad JSON line, or no captions.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"Caption file {source} does not exist; check the path.")
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Caption file {source} cannot be read as text ({error}).") from None
    captions: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if source.suffix.lower() != ".jsonl":
            captions.append(" ".join(line.split()))
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(
                f"Line {number} of {source} is not valid JSON; write one JSON object per line."
            ) from None
        if isinstance(item, dict):
            label = str(item.get("label", "normal")).lower()
            if label in ("anomalous", "anomaly", "abnormal"):
                continue
            item = item.get("text", item.get("caption"))
        if not isinstance(item, str):
            raise InputError(f"Line {number} of {source} has no caption; give it a 'text' string.")
        if item.strip():
            captions.append(" ".join(item.split()))
    if not captions:
        raise InputError(f"Caption file {source} holds no captions; write one caption per line.")
    return captions


def collect_references(
    paths: Sequence[str | os.PathLike[str]],
    *,
    captioner: FrameCaptioner | None = None,
    frames_per_video: int = 8,
) -> References:
    """Gather normal descriptions from caption files, images, videos and folders.

    Caption files (``.txt``, ``.jsonl``) are read; images and videos (files, or found in
    folders) are described by the captioner, ``frames_per_video`` evenly spaced frames per
    video.

    Args:
        paths: The references.
        captioner: Describes images and video frames (needed only for them).
        frames_per_video: Frames described per reference video.

    Returns:
        The references, repeats removed.

    Raises:
        InputError: A path is missing, or no caption came out.
        ConfigError: Images or videos are given without a captioner.
    """
    from vlad.media.image import iter_image_paths
    from vlad.media.video import is_video_path

    if frames_per_video < 1:
        raise ConfigError(f"frames_per_video must be at least 1, got {frames_per_video}.")
    captions: list[str] = []
    counts = {"caption file": 0, "image": 0, "video frame": 0}
    images: list[Path] = []
    videos: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"Reference {path} does not exist; check the path.")
        if path.is_file() and path.suffix.lower() in CAPTION_SUFFIXES:
            found = read_caption_file(path)
            captions.extend(found)
            counts["caption file"] += len(found)
        elif path.is_file() and is_video_path(path):
            videos.append(path)
        elif path.is_dir():
            videos.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_video_path(p)))
            images.extend(iter_image_paths([path]))
        else:
            images.append(path)
    if (images or videos) and captioner is None:
        raise ConfigError(
            "The references include images or videos; pass captioner to describe them, "
            "or give a caption file (.txt or .jsonl).",
            param="captioner",
        )
    if images and captioner is not None:
        found = captioner.caption_images(images)
        captions.extend(found)
        counts["image"] += len(found)
    for video in videos:
        assert captioner is not None
        from vlad.media.video import probe_video

        count = probe_video(video).frame_count
        if count < 1:
            continue
        wanted = min(frames_per_video, count)
        indices = sorted({int(i) for i in np.linspace(0, count - 1, wanted).round()})
        found = [c.text for c in captioner.caption_frames(video, indices)]
        captions.extend(found)
        counts["video frame"] += len(found)
    unique = tuple(dict.fromkeys(c for c in captions if c.strip()))
    if not unique:
        raise InputError(
            "The references gave no captions; check the files or the captioner.",
            param="captioner",
        )
    return References(unique, tuple(str(p) for p in paths), counts)


# ---------------------------------------------------------------------------- induction


@dataclass(frozen=True)
class Candidate:
    """A rule one batch proposed."""

    text: str
    kind: RuleKind
    category: str
    batch: int


@dataclass
class InductionReport:
    """What happened during induction, for the command's summary.

    Attributes:
        answers: LLM answers received.
        empty_answers: Answers in which no rule could be found.
        proposed: Rules proposed over all batches, per kind.
        merged: Distinct rules after merging paraphrases, per kind.
        kept: Rules kept by the vote, per kind.
        contradicting: Anomaly rules dropped as paraphrases of normal rules.
        dropped: Rules the checks of :mod:`vlad.reasoning.checks` dropped before the vote,
            by reason (``prompt echo``, ``contradicts its label``, ``fragment``, ``copied
            input``: a reference caption written back; ``restates a normal rule``: an
            anomaly rule copying a normal rule it was shown).
    """

    answers: int = 0
    empty_answers: int = 0
    proposed: dict[str, int] = field(default_factory=lambda: {"normal": 0, "anomaly": 0})
    merged: dict[str, int] = field(default_factory=lambda: {"normal": 0, "anomaly": 0})
    kept: dict[str, int] = field(default_factory=lambda: {"normal": 0, "anomaly": 0})
    contradicting: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def drops(self) -> str:
        """The rules the checks dropped, for a person: ``"3 copied input, 1 fragment"``."""
        return describe_drops(self.dropped)


RESTATES_NORMAL = "restates a normal rule"


def check_rules(
    rules: Sequence[str],
    kind: RuleKind,
    *,
    instructions: Sequence[str] = (),
    captions: Sequence[str] = (),
    normal_rules: Sequence[str] = (),
    dropped: Counter[str] | None = None,
) -> list[str]:
    """The rules of one answer that pass the checks on model text, in order.

    A rule is dropped (and counted in ``dropped``) when it echoes the instructions
    (``prompt echo``), states the other verdict (``contradicts its label``), is cut off
    (``fragment``), copies a reference caption it was shown (``copied input``) or, for an
    anomaly rule, copies a normal rule it was shown (``restates a normal rule``).

    Args:
        rules: The parsed rules of one answer.
        kind: ``normal`` or ``anomaly``.
        instructions: The prompt's instruction pieces
            (:func:`~vlad.reasoning.checks.instruction_pieces`).
        captions: The reference captions of the batch.
        normal_rules: The normal rules the anomaly prompt listed.
        dropped: Counter updated with the reasons.

    Returns:
        The rules kept.
    """
    counts = dropped if dropped is not None else Counter()
    kept: list[str] = []
    for rule in rules:
        if echoes_prompt(rule, instructions):
            counts[PROMPT_ECHO] += 1
        elif contradicts_label(rule, "normal" if kind == "normal" else "anomalous"):
            counts[CONTRADICTS_LABEL] += 1
        elif is_fragment(rule):
            counts[FRAGMENT] += 1
        elif copied_from(rule, captions) is not None:
            counts[COPIED_INPUT] += 1
        elif kind == "anomaly" and copied_from(rule, normal_rules) is not None:
            counts[RESTATES_NORMAL] += 1
        else:
            kept.append(rule)
    return kept


def sample_batches(count: int, batches: int, per_batch: int, seed: int) -> list[list[int]]:
    """Indices of the captions in each batch.

    When there are enough captions the batches are disjoint slices of one shuffle;
    otherwise each batch is its own random sample (without repeats inside a batch).

    Args:
        count: Number of captions.
        batches: Number of batches.
        per_batch: Captions per batch (at most ``count``).
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    size = min(per_batch, count)
    if batches * size <= count:
        order = rng.permutation(count)
        return [sorted(order[b * size : (b + 1) * size].tolist()) for b in range(batches)]
    return [sorted(rng.choice(count, size=size, replace=False).tolist()) for _ in range(batches)]


def _clusters(texts: Sequence[str], embeddings: np.ndarray, threshold: float) -> list[list[int]]:
    """Greedy single-pass clustering: each text joins the first cluster it is close to."""
    clusters: list[list[int]] = []
    heads: list[int] = []
    for index in range(len(texts)):
        if heads:
            similarity = embeddings[heads] @ embeddings[index]
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                clusters[best].append(index)
                continue
        heads.append(index)
        clusters.append([index])
    return clusters


def aggregate(
    candidates: Sequence[Candidate],
    embedder: TextEmbedder,
    *,
    min_votes: int,
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD,
    report: InductionReport | None = None,
) -> list[Rule]:
    """Merge paraphrases, vote across batches, and drop anomaly rules that restate normal ones.

    Args:
        candidates: Rules proposed by the batches, in proposal order.
        embedder: Embeds rule texts (unit rows).
        min_votes: Fewest batches a merged rule must come from.
        merge_threshold: Cosine similarity at which two rules are one.
        report: Updated with counts.

    Returns:
        The kept rules, normal first, then anomaly; per category in first-seen order, by
        votes (most first) then first appearance; ids numbered in that order.
    """
    report = report if report is not None else InductionReport()
    texts = list(dict.fromkeys(c.text for c in candidates))
    if not texts:
        return []
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    row = {text: i for i, text in enumerate(texts)}
    categories = list(dict.fromkeys(c.category for c in candidates))
    rules: list[Rule] = []
    normal_rows: list[int] = []
    for kind in ("normal", "anomaly"):
        for category in categories:
            group = [c for c in candidates if c.kind == kind and c.category == category]
            if not group:
                continue
            if kind == "anomaly" and normal_rows:
                normal_vectors = vectors[normal_rows]
                keep = []
                for c in group:
                    if float((normal_vectors @ vectors[row[c.text]]).max()) >= merge_threshold:
                        report.contradicting += 1
                    else:
                        keep.append(c)
                group = keep
            embeddings = vectors[[row[c.text] for c in group]]
            clusters = _clusters([c.text for c in group], embeddings, merge_threshold)
            report.merged[kind] += len(clusters)
            kept: list[tuple[int, int, str]] = []
            for cluster in clusters:
                votes = len({group[i].batch for i in cluster})
                if votes < min_votes:
                    continue
                counts: dict[str, int] = {}
                for i in cluster:
                    counts[group[i].text] = counts.get(group[i].text, 0) + 1
                text = max(counts, key=lambda t: counts[t])  # first-seen wins ties
                kept.append((votes, cluster[0], text))
            kept.sort(key=lambda item: (-item[0], item[1]))
            for number, (votes, _, text) in enumerate(kept, start=1):
                rules.append(
                    Rule(text, kind, category, rule_id(kind, category, number), votes, "induced")  # type: ignore[arg-type]
                )
                if kind == "normal":
                    normal_rows.append(row[text])
            report.kept[kind] += len(kept)
    return rules


def _scene_line(template: InductionPrompt, scene: str | None) -> str:
    if not scene or not scene.strip():
        return ""
    return template.scene_line.format(scene=scene.strip().rstrip("."))


def _instructions(template: InductionPrompt, request: str, words: str, count: int) -> list[str]:
    """The instruction pieces of one induction request (its scene, captions, rules left out)."""
    return instruction_pieces(
        template.system,
        template.scene_line.format(scene=BREAK),
        request.format(scene=BREAK, captions=BREAK, rules=BREAK, category=words, count=count),
        template.none_listed,
    )


def _conversation(system: str, text: str) -> Conversation:
    messages: Conversation = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": text})
    return messages


def induce_rules(
    captions: Sequence[str],
    llm: ChatBackend,
    embedder: TextEmbedder,
    config: InductionConfig | None = None,
    *,
    prompt: str | os.PathLike[str] | InductionPrompt | None = None,
    settings: GenerationSettings | None = None,
    references: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    report: InductionReport | None = None,
    **options: Any,
) -> RuleSet:
    """Induce normal and anomaly rules from descriptions of normal frames.

    The settings are an :class:`~vlad.config.InductionConfig`; its fields may also be given
    as keywords (``batches=3, per_batch=10``), which override the config's.

    Args:
        captions: Descriptions of normal frames.
        llm: The chat model that writes rules.
        embedder: Embeds rules to merge paraphrases (MiniLM by default in the CLI).
        config: Scene, batches, votes, merge threshold, definitions, prompt, seed.
        prompt: An already loaded induction prompt, or a name or path (overrides
            ``config.prompt``).
        settings: Generation settings (default: greedy, ``config.max_new_tokens`` tokens).
        references: The reference paths, for the provenance.
        progress: Called with 1 after each batch.
        report: Filled with counts.
        **options: :class:`~vlad.config.InductionConfig` fields, overriding ``config``.

    Returns:
        The rule set, with provenance.

    Raises:
        ConfigError: A setting is out of range, or too few rules were produced.
        InputError: There are no captions.
    """
    if options:
        unknown = sorted(set(options) - {f.name for f in fields(InductionConfig)})
        if unknown:
            raise TypeError(f"induce_rules() got an unexpected keyword argument '{unknown[0]}'")
        config = replace(config, **options) if config is not None else InductionConfig(**options)
    config = config or InductionConfig()
    scene, batches, per_batch = config.scene, config.batches, config.per_batch
    rules_per_answer, merge_threshold, seed = (
        config.rules_per_answer,
        config.merge_threshold,
        config.seed,
    )
    votes_needed = config.votes_needed
    captions = [c for c in captions if c.strip()]
    if not captions:
        raise InputError("There are no reference captions to induce rules from; give some.")
    prompt = config.prompt if prompt is None else prompt
    template = prompt if isinstance(prompt, InductionPrompt) else load_induction_prompt(prompt)
    settings = settings or GenerationSettings(max_new_tokens=config.max_new_tokens)
    report = report if report is not None else InductionReport()
    scene_line = _scene_line(template, scene)
    candidates: list[Candidate] = []
    chosen = sample_batches(len(captions), batches, per_batch, seed)
    for batch, indices in enumerate(chosen):
        text = "\n".join(f"- {captions[i]}" for i in indices)
        shown = [captions[i] for i in indices]
        normal_by_category: dict[str, list[str]] = {}
        conversations = [
            _conversation(
                template.system,
                template.normal.format(
                    scene=scene_line, captions=text, category=words, count=rules_per_answer
                ),
            )
            for words in template.categories.values()
        ]
        for (category, words), answer in zip(
            template.categories.items(), llm.chat(conversations, settings), strict=True
        ):
            found = check_rules(
                parse_rule_answer(answer),
                "normal",
                instructions=_instructions(template, template.normal, words, rules_per_answer),
                captions=shown,
                dropped=report.dropped,
            )[:rules_per_answer]
            report.answers += 1
            report.empty_answers += not found
            normal_by_category[category] = found
            candidates += [Candidate(r, "normal", category, batch) for r in found]
        conversations = [
            _conversation(
                template.system,
                template.anomaly.format(
                    scene=scene_line,
                    rules="\n".join(
                        f"{n}. {r}" for n, r in enumerate(normal_by_category[category], start=1)
                    )
                    or template.none_listed,
                    captions=text,
                    category=words,
                    count=rules_per_answer,
                ),
            )
            for category, words in template.categories.items()
        ]
        for (category, words), answer in zip(
            template.categories.items(), llm.chat(conversations, settings), strict=True
        ):
            found = check_rules(
                parse_rule_answer(answer),
                "anomaly",
                instructions=_instructions(template, template.anomaly, words, rules_per_answer),
                captions=shown,
                normal_rules=normal_by_category[category],
                dropped=report.dropped,
            )[:rules_per_answer]
            report.answers += 1
            report.empty_answers += not found
            candidates += [Candidate(r, "anomaly", category, batch) for r in found]
        if progress is not None:
            progress(1)
    for candidate in candidates:
        report.proposed[candidate.kind] += 1
    rules = aggregate(
        candidates, embedder, min_votes=votes_needed, merge_threshold=merge_threshold, report=report
    )
    from vlad import __version__

    provenance: dict[str, Any] = {
        "method": "induced",
        "model": llm.name,
        "embedder": embedder.name,
        "prompt": f"{template.name} v{template.version}",
        "batches": batches,
        "per_batch": per_batch,
        "min_votes": votes_needed,
        "merge_threshold": merge_threshold,
        "seed": seed,
        "captions": len(captions),
        "references": [str(r) for r in references],
        "proposed": dict(report.proposed),
        "kept": dict(report.kept),
        "dropped": dict(sorted(report.dropped.items())),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "vlad": __version__,
    }
    rule_set = RuleSet(tuple(rules), scene=scene, provenance=provenance)
    if config.definitions:
        rule_set = rule_set.with_definitions(config.definitions)
    if not rule_set.anomaly():
        raise ConfigError(
            f"The LLM {llm.name} produced no anomaly rule that {votes_needed} of {batches} "
            f"batches agree on ({report.proposed['anomaly']} proposed, "
            f"{report.empty_answers} of {report.answers} answers unusable"
            + (
                f", {sum(report.dropped.values())} rules dropped: {report.drops()}"
                if report.dropped
                else ""
            )
            + "); use a stronger LLM, lower min_votes, or add anomalies as definitions.",
            param="min_votes",
        )
    return rule_set
