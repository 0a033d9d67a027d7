"""Clauses of descriptions and the phrases rules are matched by."""

from __future__ import annotations

from vlad.reasoning.deduction.clauses import canonical_clause, rule_phrases, split_clauses


def test_split_clauses_cuts_sentences_commas_and_new_subjects() -> None:
    text = (
        "There are three people. The first person is walking, the second person is running, "
        "and the third person is standing near a bench; a dog is sitting. Trees."
    )
    assert split_clauses(text) == [
        "There are three people",
        "The first person is walking",
        "the second person is running",
        "the third person is standing near a bench",
        "a dog is sitting",
    ]
    assert split_clauses("   ") == []
    assert split_clauses("Trees.") == ["Trees"]


def test_canonical_clause_makes_subjects_generic() -> None:
    assert canonical_clause("The fifth person is running.") == "a person is running"
    assert canonical_clause("one person is bending over") == "a person is bending over"
    assert canonical_clause("possibly running or jumping") == "a person is running or jumping"
    assert canonical_clause("a man is riding a bicycle") == "a person is riding a bicycle"
    assert canonical_clause("there are trees") == "there are trees"
    # A subject with no noun.
    assert canonical_clause("another is riding a bicycle") == "a person is riding a bicycle"
    assert canonical_clause("the third is walking") == "a person is walking"
    assert canonical_clause("The other one seems lost") == "a person seems lost"
    assert canonical_clause("one of them is running") == "one of them is running"


def test_rule_phrases_keep_alternatives_but_not_bare_nouns() -> None:
    assert rule_phrases(
        "Using any non-walking movement such as riding a bicycle or scooter, skateboarding"
    ) == [
        "Using any non-walking movement such as riding a bicycle or scooter, skateboarding",
        "Using any non-walking movement",
        "riding a bicycle",
        "skateboarding",
        "riding a scooter",
    ]
    assert rule_phrases("Trees (common landscape feature)") == [
        "Trees (common landscape feature)",
        "Trees",
    ]
    # "signs" and "structures" alone would say the opposite of the rule: dropped.
    assert rule_phrases("Vandalism or damage to objects such as signs or structures") == [
        "Vandalism or damage to objects such as signs or structures",
        "Vandalism or damage to objects",
        "damage to objects",
    ]


def test_rule_phrases_give_a_bare_noun_after_or_the_words_before_it() -> None:
    assert rule_phrases("Riding a bicycle or scooter, skateboarding") == [
        "Riding a bicycle or scooter, skateboarding",
        "Riding a bicycle",
        "skateboarding",
        "Riding a scooter",
    ]
    assert rule_phrases("Fallen tree or branches (obstructions not typical)") == [
        "Fallen tree or branches (obstructions not typical)",
        "Fallen tree or branches",
        "Fallen tree",
        "Fallen branches",
    ]
    # A bare noun with no alternative of two words before it stays out.
    assert "Smoke" not in rule_phrases("Smoke or fire coming from a utility access point")
    assert rule_phrases("Running or jumping") == ["Running or jumping", "Running", "jumping"]
