"""The benchmark registry: every reader listed with its source, licence and layout."""

from __future__ import annotations

import pytest

from vlad.data.registry import BENCHMARKS, benchmark, names, prepare
from vlad.errors import ConfigError


def test_every_benchmark_of_the_issue_is_registered_with_its_source():
    assert names() == (
        "mvtec",
        "visa",
        "ped2",
        "avenue",
        "shanghaitech",
        "ubnormal",
        "ucf_crime",
        "xd_violence",
        "anomalyruler",
    )
    for entry in BENCHMARKS.values():
        assert entry.url.startswith("http"), entry.name
        assert entry.licence and entry.layout and entry.title, entry.name


def test_unknown_name_and_foreign_option_are_one_sentence(tmp_path):
    with pytest.raises(ConfigError) as error:
        benchmark("kitti")
    assert str(error.value) == (
        "name 'kitti' is not a benchmark vlad reads; known: mvtec, visa, ped2, avenue, "
        "shanghaitech, ubnormal, ucf_crime, xd_violence, anomalyruler."
    )
    with pytest.raises(ConfigError) as error:
        prepare("ped2", tmp_path, categories=["bottle"])
    assert str(error.value) == "categories does not apply to UCSD Ped2, which takes no options."
    assert error.value.param == "categories"
