import doctest

import pytest

from vlad.errors import VladError
from vlad.pipeline import request as request_module
from vlad.pipeline.request import build_request, clean_phrases


def test_doctests_hold():
    failures, tried = doctest.testmod(request_module)
    assert tried >= 1 and failures == 0


def test_clean_phrases_strips_collapses_and_drops_repeats_in_order():
    assert clean_phrases(["  a  fight", "", "smoke", "a fight", " "]) == ("a fight", "smoke")
    assert clean_phrases("one\n two  words \n\none") == ("one", "two words")
    assert clean_phrases(()) == ()


def test_build_request_cleans_every_option_once():
    request = build_request(
        definitions="a fight\n a fight ", normal=["  people  walking "], scene="   "
    )
    assert request.definitions == ("a fight",)
    assert request.normal == ("people walking",)
    assert request.scene is None
    assert request.rule_set is None and request.memory is None
    assert request.stages == {}


def test_build_request_refuses_an_unknown_option_by_name():
    with pytest.raises(TypeError, match="definitons"):
        build_request(definitons=["typo"])


def test_build_request_loads_a_rule_file_and_names_a_missing_one(tmp_path):
    with pytest.raises(VladError, match=r"missing\.yaml"):
        build_request(rules=tmp_path / "missing.yaml")
