"""The timeline plot with definitions in any script: no glyph warnings, a font that has them."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vlad.answer.render import plot_timeline
from vlad.types import Interval, ScoreTrack


def result_for(definition: str) -> SimpleNamespace:
    track = ScoreTrack(
        np.array([0.0, 1.0, 2.0]), np.array([0, 1, 2]), np.array([0.1, 0.9, 0.2]), definition
    )
    return SimpleNamespace(
        tracks=(track,),
        intervals=(Interval(0.5, 1.5, 0.9, definition),),
        threshold=0.5,
        low_threshold=0.4,
        info=SimpleNamespace(duration_s=3.0),
        input=f"{definition}.mp4",
    )


@pytest.mark.parametrize("definition", ["有人在打架", "𝔄𝔫𝔬𝔪𝔞𝔩𝔶", "драка у входа", "a fight"])
def test_a_timeline_in_any_script_warns_nothing(tmp_path: Path, definition: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = plot_timeline(result_for(definition), tmp_path / "t.png")
    assert [str(w.message) for w in caught] == []
    with Image.open(path) as image:
        assert image.size == (1210, 462)


def test_a_font_with_the_missing_glyphs_is_chosen_where_one_is_installed() -> None:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from vlad.answer.render import fallback_font

    assert fallback_font(["a fight", "драка"]) is None  # the default font has them all
    family = fallback_font(["𝔄𝔫𝔬𝔪𝔞𝔩𝔶"])  # Fraktur: not in DejaVu Sans, in STIX
    assert family is not None and not family.startswith("Last Resort")
    path = font_manager.findfont(font_manager.FontProperties(family=family))
    assert {ord(c) for c in "𝔄𝔫𝔬𝔪𝔞𝔩𝔶"} <= set(FT2Font(path).get_charmap())
