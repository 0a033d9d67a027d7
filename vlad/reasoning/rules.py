"""Rules for normal and anomalous events (AnomalyRuler style), as data people can edit.

A :class:`RuleSet` holds :class:`Rule` records of two kinds, ``normal`` and ``anomaly``,
each in a category (``human activity``, ``object``, or a user's own words). Rule sets are
induced from normal references (:mod:`vlad.reasoning.induction`), imported from the
AnomalyRuler paper's text format (:func:`parse_rules_text`), or extended with a user's
definitions (:meth:`RuleSet.with_definitions`). They are saved as YAML that a person can
read and edit, and loaded back from either format by :func:`load_rules`.

The paper's text format::

    **Anomaly Human Activities:**
    1. Running or jumping
    **Rules for Normal Non-Human Objects:**
    1. Trees along the street

Section headers say the kind (``Anomaly``/``Abnormal`` or ``Normal``) and the category;
items are numbered or bulleted (numbers may repeat; their values are ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from vlad.errors import ConfigError, InputError
from vlad.utils.io import atomic_write_text

RuleKind = Literal["normal", "anomaly"]
RuleSource = Literal["induced", "imported", "user"]
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
RULE_SOURCES: tuple[str, ...] = get_args(RuleSource)
HUMAN_ACTIVITY = "human activity"
OBJECT = "object"
USER_DEFINITION = "user definition"
RULES_FORMAT = "vlad-rules"
RULES_FORMAT_VERSION = 1

_ITEM = re.compile(r"^\s*(?:\(?\d+\s*[.):\]]|[-*\u2022+]|\d+\s+-)\s+(?P<text>.+?)\s*$")
_MARKUP = re.compile(r"[*_#`>]+")
_ANOMALY_WORDS = re.compile(r"\b(?:anomal\w*|abnormal\w*|unusual|suspicious)\b", re.IGNORECASE)
_NORMAL_WORDS = re.compile(r"\bnormal\b|\busual\b|\bregular\b|\bexpected\b", re.IGNORECASE)
_OBJECT_WORDS = re.compile(
    r"non[-\s]?human|\bobjects?\b|\benvironment\w*|\bscene\b|\bthings\b", re.IGNORECASE
)
_HUMAN_WORDS = re.compile(r"\bhuman\b|\bactivit\w*|\bpeople\b|\bperson\b|\bbehaviou?rs?\b", re.I)
_HEADER_NOISE = re.compile(r"\b(?:rules?\s+for|rules?|the|of)\b", re.IGNORECASE)


def _slug(text: str) -> str:
    """Lower-case words joined by dashes, for rule ids."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "rule"


def rule_id(kind: str, category: str, number: int) -> str:
    """The stable id of the ``number``-th rule (from 1) of a kind and category.

    Args:
        kind: ``normal`` or ``anomaly``.
        category: The rule's category, e.g. ``human activity``.
        number: Its position among the rules of that kind and category, from 1.

    Returns:
        An id such as ``anomaly-human-activity-2``.
    """
    return f"{kind}-{_slug(category)}-{number}"


@dataclass(frozen=True)
class Rule:
    """One rule: a short description of a normal or an anomalous event.

    Attributes:
        text: The rule in words, e.g. "Riding a bicycle or scooter, skateboarding".
        kind: ``normal`` or ``anomaly``.
        category: ``human activity``, ``object``, or a user's own category.
        id: A stable id, e.g. ``anomaly-human-activity-2``, that explanations cite.
        votes: How many induction batches produced the rule (after merging paraphrases).
        source: ``induced`` (by an LLM), ``imported`` (from a file) or ``user``.
    """

    text: str
    kind: RuleKind
    category: str
    id: str
    votes: int = 1
    source: RuleSource = "induced"

    def __post_init__(self) -> None:
        text = " ".join(str(self.text).split())
        if not text:
            raise ConfigError(f"Rule '{self.id}' has empty text; give each rule a description.")
        object.__setattr__(self, "text", text)
        if self.kind not in RULE_KINDS:
            raise ConfigError(
                f"Rule '{self.id}' has unknown kind '{self.kind}'; use 'normal' or 'anomaly'."
            )
        if not str(self.category).strip():
            raise ConfigError(f"Rule '{self.id}' has an empty category; name one.")
        object.__setattr__(self, "category", " ".join(str(self.category).split()))
        if not str(self.id).strip():
            raise ConfigError(f"The rule '{text}' has an empty id; give it one or leave it out.")
        if isinstance(self.votes, bool) or not isinstance(self.votes, int) or self.votes < 1:
            raise ConfigError(
                f"Rule '{self.id}' has votes {self.votes!r}; use a whole number >= 1."
            )
        if self.source not in RULE_SOURCES:
            raise ConfigError(
                f"Rule '{self.id}' has unknown source '{self.source}'; "
                f"use one of {', '.join(RULE_SOURCES)}."
            )

    @property
    def anomalous(self) -> bool:
        """Whether the rule describes an anomaly."""
        return self.kind == "anomaly"

    def to_dict(self) -> dict[str, Any]:
        """A plain dict in the order people read it (id, kind, category, text, ...)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "category": self.category,
            "text": self.text,
            "votes": self.votes,
            "source": self.source,
        }


@dataclass(frozen=True)
class RuleSet:
    """An ordered set of rules with the scene they are for and where they came from.

    Attributes:
        rules: The rules, normal and anomaly, in reading order; ids are unique.
        scene: The scene the rules describe (e.g. "a university campus walkway"), if known.
        provenance: How the rules were made: model, batches, per_batch, references,
            created (ISO time), vlad version, import source.
    """

    rules: tuple[Rule, ...]
    scene: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rules = tuple(self.rules)
        object.__setattr__(self, "rules", rules)
        seen: set[str] = set()
        for rule in rules:
            if not isinstance(rule, Rule):
                raise ConfigError(f"A rule set holds {type(rule).__name__}, not a Rule.")
            if rule.id in seen:
                raise ConfigError(f"Rule id '{rule.id}' appears twice; give each rule its own id.")
            seen.add(rule.id)
        if self.scene is not None:
            scene = " ".join(str(self.scene).split())
            object.__setattr__(self, "scene", scene or None)

    def __len__(self) -> int:
        return len(self.rules)

    def normal(self) -> tuple[Rule, ...]:
        """The rules that describe normal events."""
        return tuple(r for r in self.rules if r.kind == "normal")

    def anomaly(self) -> tuple[Rule, ...]:
        """The rules that describe anomalous events."""
        return tuple(r for r in self.rules if r.kind == "anomaly")

    def categories(self, kind: RuleKind | None = None) -> tuple[str, ...]:
        """The categories in order of first appearance, of one kind or of all rules."""
        found: dict[str, None] = {}
        for rule in self.rules:
            if kind is None or rule.kind == kind:
                found.setdefault(rule.category, None)
        return tuple(found)

    def by_id(self, rule_id: str) -> Rule:
        """The rule with this id.

        Raises:
            ConfigError: No rule has this id.
        """
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise ConfigError(f"No rule has id '{rule_id}'; see 'vlad rules show FILE' for the ids.")

    def with_definitions(self, texts: Sequence[str], category: str = USER_DEFINITION) -> RuleSet:
        """A copy with the user's definitions added as anomaly rules (source ``user``).

        Args:
            texts: Definitions such as "a person riding a bicycle"; duplicates of an
                existing anomaly rule's text (ignoring case) are skipped.
            category: The category the definitions go in.

        Returns:
            A new rule set; this one is unchanged.

        Raises:
            ConfigError: A definition is empty.
        """
        rules = list(self.rules)
        ids = {r.id for r in rules}
        known = {r.text.lower() for r in rules if r.kind == "anomaly"}
        number = sum(1 for r in rules if r.kind == "anomaly" and r.category == category)
        for text in texts:
            clean = " ".join(str(text).split())
            if not clean:
                raise ConfigError(
                    "One of the definitions is empty; describe the anomaly in words.",
                    param="definitions",
                )
            if clean.lower() in known:
                continue
            known.add(clean.lower())
            number += 1
            new_id = rule_id("anomaly", category, number)
            while new_id in ids:
                number += 1
                new_id = rule_id("anomaly", category, number)
            ids.add(new_id)
            rules.append(Rule(clean, "anomaly", category, new_id, source="user"))
        return replace(self, rules=tuple(rules), provenance=dict(self.provenance))

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready dict: format tag, scene, provenance and the rules."""
        return {
            "format": RULES_FORMAT,
            "version": RULES_FORMAT_VERSION,
            "scene": self.scene,
            "provenance": dict(self.provenance),
            "rules": [r.to_dict() for r in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "the rule set") -> RuleSet:
        """Build a rule set from :meth:`to_dict`'s shape (as read from YAML).

        Rules may leave out ``id`` (one is made from kind and category), ``category``
        (``user definition`` for anomaly rules, ``human activity`` otherwise),
        ``votes`` (1) and ``source`` (``user``), so people can add rules by hand.

        Args:
            data: The dict.
            where: What to call the input in error messages (e.g. a file name).

        Raises:
            InputError: The data is not a rule set.
            ConfigError: A rule is invalid (empty text, unknown kind, duplicate id).
        """
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise InputError(f"{where} is not a rule set; it needs a 'rules:' list.")
        provenance = data.get("provenance") or {}
        if not isinstance(provenance, dict):
            raise InputError(f"{where} has a 'provenance' that is not a mapping; fix or remove it.")
        counts: dict[tuple[str, str], int] = {}
        taken = {
            str(item["id"])
            for item in data["rules"]
            if isinstance(item, dict) and item.get("id") is not None
        }
        rules: list[Rule] = []
        for number, item in enumerate(data["rules"], start=1):
            if not isinstance(item, dict):
                raise InputError(
                    f"Rule {number} of {where} is not a mapping; give it 'kind' and 'text' keys."
                )
            kind = str(item.get("kind", "")).strip().lower()
            if kind not in RULE_KINDS:
                raise ConfigError(
                    f"Rule {number} of {where} has kind '{item.get('kind')}'; "
                    "use 'normal' or 'anomaly'."
                )
            text = item.get("text")
            if text is None or not str(text).strip():
                raise ConfigError(f"Rule {number} of {where} has no text; describe the rule.")
            default_category = USER_DEFINITION if kind == "anomaly" else HUMAN_ACTIVITY
            category = str(item.get("category") or default_category)
            key = (kind, category)
            counts[key] = counts.get(key, 0) + 1
            identifier = item.get("id")
            if identifier is None:
                identifier = rule_id(kind, category, counts[key])
                while identifier in taken:
                    counts[key] += 1
                    identifier = rule_id(kind, category, counts[key])
                taken.add(identifier)
            votes = item.get("votes", 1)
            try:
                rules.append(
                    Rule(
                        text=str(text),
                        kind=kind,  # type: ignore[arg-type]
                        category=category,
                        id=str(identifier),
                        votes=votes,
                        source=str(item.get("source") or "user"),  # type: ignore[arg-type]
                    )
                )
            except ConfigError as error:
                raise ConfigError(f"In {where}: {error}") from None
        scene = data.get("scene")
        try:
            return cls(
                tuple(rules), scene=None if scene is None else str(scene), provenance=provenance
            )
        except ConfigError as error:
            raise ConfigError(f"In {where}: {error}") from None

    def to_text(self) -> str:
        """The rules in the AnomalyRuler paper's text format (anomaly sections first)."""
        blocks: list[str] = []
        for kind in ("anomaly", "normal"):
            for category in self.categories(kind):  # type: ignore[arg-type]
                title = "Anomaly" if kind == "anomaly" else "Normal"
                lines = [f"**{title} {_plural_title(category)}:**"]
                items = [r for r in self.rules if r.kind == kind and r.category == category]
                lines += [f"{n}. {r.text}" for n, r in enumerate(items, start=1)]
                blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the rule set as commented, human-editable YAML, atomically.

        Args:
            path: The file to write (parent folders are made).

        Returns:
            The path written.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# vlad rule set: normal and anomaly rules for one scene.\n"
            "# Edit freely: change a rule's text, delete rules, or add one as\n"
            "#   - {kind: anomaly, category: object, text: a car on the walkway}\n"
            "# ('id', 'votes' and 'source' may be left out). Check it with 'vlad rules show'.\n"
        )
        body = yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
        )
        atomic_write_text(target, header + body)
        return target

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        """Read a rule set from YAML or the paper's text format (see :func:`load_rules`)."""
        return load_rules(path)


def _plural_title(category: str) -> str:
    """The paper's header words for a category ("human activity" -> "Human Activities")."""
    if category == HUMAN_ACTIVITY:
        return "Human Activities"
    if category == OBJECT:
        return "Non-Human Objects"
    return category.title()


def clean_item(text: str) -> str:
    """A list item's text without markdown emphasis and surrounding spaces."""
    return " ".join(text.replace("**", "").replace("__", "").split()).strip(" -")


def list_items(text: str) -> list[str]:
    """The texts of the numbered or bulleted items in a block of text, in order.

    Args:
        text: Text such as an LLM's answer ("1. Walking", "- Standing", "2) Sitting").

    Returns:
        The items' texts, markdown emphasis removed; empty ones dropped.
    """
    items = []
    for line in text.splitlines():
        match = _ITEM.match(line)
        if match:
            item = clean_item(match.group("text"))
            if item:
                items.append(item)
    return items


def header_section(line: str) -> tuple[RuleKind, str] | None:
    """The kind and category a section header names, or None if the line is no header.

    A header is a line that is not a list item, is short, and is set off as a header
    (ends with ':', is bold, or starts with '#') and names a kind: ``Anomaly``,
    ``Abnormal``, ``Unusual`` or ``Suspicious`` for anomaly, ``Normal`` otherwise.

    Args:
        line: One line of text.

    Returns:
        ``(kind, category)`` with category ``human activity``, ``object``, or the
        header's other words; None for a line that is not such a header.
    """
    stripped = line.strip()
    if not stripped or _ITEM.match(stripped) or len(stripped) > 80:
        return None
    plain = _MARKUP.sub(" ", stripped).strip()
    marked = stripped.startswith(("#", "**", "__")) or plain.endswith(":")
    if not marked:
        return None
    plain = plain.rstrip(":").strip()
    kind: RuleKind
    if _ANOMALY_WORDS.search(plain):
        kind = "anomaly"
    elif _NORMAL_WORDS.search(plain):
        kind = "normal"
    else:
        return None
    if _OBJECT_WORDS.search(plain):
        return kind, OBJECT
    if _HUMAN_WORDS.search(plain):
        return kind, HUMAN_ACTIVITY
    rest = _ANOMALY_WORDS.sub(" ", _NORMAL_WORDS.sub(" ", plain))
    rest = " ".join(_HEADER_NOISE.sub(" ", rest).split()).lower()
    return kind, rest or (USER_DEFINITION if kind == "anomaly" else HUMAN_ACTIVITY)


def parse_rules_text(text: str, where: str) -> RuleSet:
    """Parse rules in the AnomalyRuler paper's text format.

    Headers such as ``**Anomaly Human Activities:**``, ``### Rules for Normal Non-Human
    Objects`` or ``Normal objects:`` open a section; numbered or bulleted items under it
    are its rules (repeated numbers are fine). Other lines are ignored. Rules get ids
    numbered in reading order within their kind and category, and source ``imported``.

    Args:
        text: The file's text.
        where: What to call the input in error messages (e.g. the file name).

    Returns:
        The rule set, with provenance ``{"format": "anomalyruler-text", "imported_from": where}``.

    Raises:
        InputError: A rule comes before any section header, or there are no rules.
    """
    section: tuple[RuleKind, str] | None = None
    counts: dict[tuple[str, str], int] = {}
    rules: list[Rule] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = header_section(line)
        if header is not None:
            section = header
            continue
        match = _ITEM.match(line)
        if not match:
            continue
        item = clean_item(match.group("text"))
        if not item:
            continue
        if section is None:
            raise InputError(
                f"Line {number} of {where} is a rule before any section header; "
                "put a header such as '**Anomaly Human Activities:**' above it."
            )
        kind, category = section
        counts[section] = counts.get(section, 0) + 1
        rules.append(
            Rule(item, kind, category, rule_id(kind, category, counts[section]), 1, "imported")
        )
    if not rules:
        raise InputError(
            f"{where} holds no rules; write numbered rules under headers such as "
            "'**Anomaly Human Activities:**' or '**Normal Non-Human Objects:**'."
        )
    return RuleSet(tuple(rules), provenance={"format": "anomalyruler-text", "imported_from": where})


def _looks_like_yaml_rules(text: str) -> Any:
    """The YAML document if the text is a vlad rule set, else None."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) and "rules" in data else None


def load_rules(path: str | Path) -> RuleSet:
    """Read a rule set from a YAML file (``vlad rules induce``) or the paper's text format.

    YAML is recognised by a ``.yaml``/``.yml`` suffix or by a top-level ``rules:`` key;
    anything else is parsed as the paper's text format.

    Args:
        path: The rules file.

    Returns:
        The rule set; it has at least one anomaly rule.

    Raises:
        InputError: The file is missing, unreadable, not valid YAML, or holds no rules.
        ConfigError: A rule is invalid, or there are no anomaly rules.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(
            f"Rules file {source} does not exist; make one with 'vlad rules induce' "
            "or 'vlad rules import'."
        )
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"Rules file {source} cannot be read as text ({error}); check the file."
        ) from None
    if not text.strip():
        raise InputError(
            f"Rules file {source} is empty; "
            "make one with 'vlad rules induce' or 'vlad rules import'."
        )
    if source.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise InputError(
                f"Rules file {source} is not valid YAML{at}; fix the syntax."
            ) from None
        rule_set = RuleSet.from_dict(data, str(source))
    else:
        data = _looks_like_yaml_rules(text)
        rule_set = (
            RuleSet.from_dict(data, str(source))
            if data is not None
            else parse_rules_text(text, str(source))
        )
    if not rule_set.rules:
        raise InputError(
            f"Rules file {source} holds no rules; add some or induce them with 'vlad rules induce'."
        )
    if not rule_set.anomaly():
        raise ConfigError(
            f"Rules file {source} has no anomaly rules; add at least one "
            "(kind: anomaly) or pass definitions.",
            param="definitions",
        )
    return rule_set


def merge_rule_sets(sets: Iterable[RuleSet]) -> RuleSet:
    """All rules of several sets in one, renumbering ids that collide.

    Args:
        sets: Rule sets; the first one's scene and provenance are kept.

    Returns:
        One rule set.
    """
    sets = list(sets)
    rules: list[Rule] = []
    ids: set[str] = set()
    for rule_set in sets:
        for rule in rule_set.rules:
            new = rule
            number = 1
            while new.id in ids:
                number += 1
                new = replace(rule, id=f"{rule.id}-{number}")
            ids.add(new.id)
            rules.append(new)
    first = sets[0] if sets else RuleSet(())
    return RuleSet(tuple(rules), scene=first.scene, provenance=dict(first.provenance))


@dataclass(frozen=True)
class RuleCitation:
    """The rule an anomalous interval is explained by, with the evidence seen.

    Attributes:
        rule_id: The cited rule's id.
        text: The rule's text.
        kind: The rule's kind.
        frame_index: The frame the evidence comes from (the interval's peak), if any.
        time_s: That frame's time in seconds.
        caption: What a vision-language model said about that frame, if one was asked.
        clause: The clause of the caption that matched the rule (frame descriptions judged
            by deduction), if any.
        reason: The deduction's sentence: which clause matched which rule, how closely.
        source: ``clip`` (the rule's text scored through CLIP) or ``perception`` (the
            VLM's descriptions judged against the rules).
    """

    rule_id: str
    text: str
    kind: RuleKind = "anomaly"
    frame_index: int | None = None
    time_s: float | None = None
    caption: str | None = None
    clause: str | None = None
    reason: str | None = None
    source: str = "clip"

    @classmethod
    def of(cls, rule: Rule, **evidence: Any) -> RuleCitation:
        """A citation of a rule, with optional evidence (frame_index, time_s, caption, ...)."""
        return cls(rule.id, rule.text, rule.kind, **evidence)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict: ``id`` and ``text``, plus the evidence that exists."""
        record: dict[str, Any] = {"id": self.rule_id, "text": self.text, "kind": self.kind}
        if self.frame_index is not None:
            record["frame_index"] = self.frame_index
        if self.time_s is not None:
            record["time_s"] = round(self.time_s, 3)
        if self.caption is not None:
            record["caption"] = self.caption
        if self.clause is not None:
            record["clause"] = self.clause
        if self.reason is not None:
            record["reason"] = self.reason
        if self.source != "clip":
            record["source"] = self.source
        return record
