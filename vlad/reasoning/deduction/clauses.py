"""Clauses of frame descriptions and the phrases rules are matched by (plain text, no numpy).

A description is cut into clauses (:func:`split_clauses`) whose subject is made generic
(:func:`canonical_clause`), so that "the fifth person is running", "one person is running"
and "another is running" embed alike; a rule is matched by its phrases
(:func:`rule_phrases`), where an alternative that is a bare noun keeps the words before it
("riding a bicycle or scooter" gives "riding a scooter").
"""

from __future__ import annotations

import re

# Sentence ends, then clause boundaries inside a sentence: commas, semicolons, and an
# "and" that starts a new subject ("..., and the fifth person is ...").
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(
    r",\s*(?:and\s+)?|;\s*|\s+and\s+(?=(?:the|a|an|one|another|two|three|four|five)\b)",
    re.IGNORECASE,
)
_ORDINALS = (
    "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    "other|last|next|final"
)
_SUBJECT = re.compile(
    rf"^(?:(?:the|a|an)\s+)?(?:(?:{_ORDINALS}|one|another)\s+)?"
    r"(?:person|man|woman|individual|pedestrian|people|boy|girl|child)\s+",
    re.IGNORECASE,
)
# A subject with no noun: "another is running", "the third is riding a skateboard".
_BARE_SUBJECT = re.compile(
    rf"^(?:(?:the|a|an)\s+)?(?:{_ORDINALS}|remaining|one|another)(?:\s+one)?\s+"
    r"(?=(?:is|are|appears|seems)\b)",
    re.IGNORECASE,
)
_HEDGE = re.compile(r"^(?:possibly|seemingly|apparently|appears to be|appearing to be)\s+", re.I)
_ASIDE = re.compile(r"\([^)]*\)")


def split_clauses(description: str) -> list[str]:
    """Cut a frame description into clauses of at least two words.

    Args:
        description: One caption, e.g. "There are two people. One is walking, and the
            other is running."

    Returns:
        The clauses without end punctuation, in order; the whole description (stripped)
        when no clause has two words; an empty list for a blank description.
    """
    text = " ".join(str(description).split())
    if not text:
        return []
    clauses: list[str] = []
    for sentence in _SENTENCE.split(text):
        for part in _CLAUSE.split(sentence):
            part = part.strip(" .!?\"'")
            if len(part.split()) >= 2:
                clauses.append(part)
    return clauses or [text.strip(" .")]


def canonical_clause(clause: str) -> str:
    """Make a clause's subject generic, so that equal events embed alike.

    "The fifth person is running", "one person is running" and "another is running" all
    become "a person is running"; a hedge at the start ("possibly running") becomes "a
    person is running".

    Args:
        clause: One clause from :func:`split_clauses`.

    Returns:
        The clause in lower case with a generic subject.
    """
    text = " ".join(clause.lower().split()).strip(" .")
    text = _SUBJECT.sub("a person ", text)
    text = _BARE_SUBJECT.sub("a person ", text)
    return _HEDGE.sub("a person is ", text)


def rule_phrases(text: str) -> list[str]:
    """The phrases a rule is matched by: the rule, without asides, and its alternatives.

    "Using any non-walking movement such as riding a bicycle or scooter, skateboarding"
    gives the rule itself, "Using any non-walking movement", "riding a bicycle",
    "skateboarding" and "riding a scooter". A one-word alternative is kept alone only if it
    is an -ing form, since a bare noun cut from its qualifier, "signs" out of "damage to
    signs", says the opposite; a bare noun after "or" that follows an alternative of two
    words or more takes that alternative's words before its last one ("riding a bicycle or
    scooter" gives "riding a scooter", "Fallen tree or branches" gives "Fallen branches").

    Args:
        text: The rule text.

    Returns:
        Distinct phrases, the whole rule first.
    """
    whole = " ".join(text.split()).strip(" .")
    plain = " ".join(_ASIDE.sub(" ", whole).split()).strip(" .")
    head, _, examples = plain.partition(" such as ")
    phrases = [whole, plain, head.strip(" .,")]
    pieces = [head] + (re.split(r",|\bor\b|\band\b|\betc\b\.?", examples) if examples else [])
    for piece in pieces:
        for part in re.split(r"\bor\b|,", piece):
            part = part.strip(" .")
            if len(part.split()) >= 2 or part.lower().endswith("ing"):
                phrases.append(part)
    for piece in [head] + (re.split(r"\band\b|\betc\b\.?", examples) if examples else []):
        phrases += _shared_head(piece)
    return [p for p in dict.fromkeys(phrases) if p]


def _shared_head(piece: str) -> list[str]:
    """Bare nouns after "or" with the words of the alternative before them.

    "riding a bicycle or scooter" gives ["riding a scooter"]; each comma part is read alone.
    """
    found: list[str] = []
    for part in piece.split(","):
        previous: list[str] = []
        for alternative in re.split(r"\bor\b", part):
            words = alternative.strip(" .").split()
            if len(words) >= 2:
                previous = words
            elif len(words) == 1 and previous and not words[0].lower().endswith("ing"):
                found.append(" ".join(previous[:-1] + words))
    return found
