"""eval/anchors.yaml: every published figure has its source and a checkable value; bad rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vlad.data.registry import BENCHMARKS as REGISTRY
from vlad.errors import ConfigError
from vlad.runners.evaluation.anchors import (
    BENCHMARKS,
    METRICS,
    Anchor,
    default_anchors_path,
    load_anchors,
    parse_anchors,
)

REPO = Path(__file__).resolve().parents[3]

ROW: dict[str, Any] = {
    "paper": "P (ICLR 2024)",
    "method": "p",
    "benchmark": "mvtec",
    "metric": "image_auroc",
    "value": 91.5,
    "source": "Table 1, arXiv:0000.00000v1",
    "checked": "Table 1 read as an image",
}


def rows(*items: dict[str, Any]) -> dict[str, Any]:
    return {"vlad_anchors": 1, "anchors": list(items)}


def test_the_shipped_file_is_the_default_and_every_row_is_sourced() -> None:
    assert default_anchors_path() == REPO / "eval" / "anchors.yaml"
    anchors = load_anchors()
    assert len(anchors) == 30
    raw = yaml.safe_load(default_anchors_path().read_text(encoding="utf-8"))["anchors"]
    assert len(raw) == len(anchors)
    for anchor in anchors:
        assert anchor.source and anchor.checked and anchor.paper and anchor.method
        assert 0 <= anchor.value <= 100
        assert anchor.metric in METRICS
        assert anchor.benchmark in BENCHMARKS
        assert anchor.setting == "zero-shot"
    assert set(BENCHMARKS) <= set(REGISTRY)


def test_the_shipped_figures_are_the_ones_read_from_the_papers_tables() -> None:
    """The values as read from each table (see the rows' checked notes); a typo fails here."""
    got = {(a.method, a.benchmark, a.metric): a.value for a in load_anchors()}
    assert got[("anomalyclip", "mvtec", "image_auroc")] == 91.5
    assert got[("anomalyclip", "mvtec", "pixel_aupro")] == 81.4
    assert got[("anomalyclip", "visa", "image_ap")] == 85.4
    assert got[("anomalyclip", "visa", "pixel_aupro")] == 87.0
    assert got[("winclip", "mvtec", "image_auroc")] == 91.8
    assert got[("winclip", "mvtec", "image_f1_max")] == 92.9
    assert got[("winclip", "visa", "pixel_aupro")] == 56.8
    assert got[("adaclip", "mvtec", "image_auroc")] == 89.2
    assert got[("adaclip", "visa", "pixel_f1_max")] == 37.7
    assert got[("flashback", "ucf_crime", "frame_auc")] == 87.3
    assert got[("flashback", "xd_violence", "frame_ap")] == 75.1
    means = {(a.method, a.benchmark) for a in load_anchors() if a.category is None}
    assert ("anomalyclip", "mvtec") in means and ("winclip", "visa") in means


def test_templates_are_merged_into_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(
        "vlad_anchors: 1\n"
        "x-p: &p {paper: P, method: p, source: T1, checked: read, setting: zero-shot}\n"
        "anchors:\n"
        "  - {<<: *p, benchmark: visa, metric: pixel_auroc, value: 95.5}\n"
        "  - {<<: *p, benchmark: visa, metric: pixel_auroc, value: 90, category: candle}\n"
    )
    assert load_anchors(path) == [
        Anchor("P", "p", "visa", "pixel_auroc", 95.5, "T1", "read", None, "zero-shot", ""),
        Anchor("P", "p", "visa", "pixel_auroc", 90.0, "T1", "read", "candle", "zero-shot", ""),
    ]


BAD_ROWS = [
    ({"source": None}, "Row 1 of 'f' has no 'source'; every figure needs paper, method, "
     "benchmark, metric, value, source, checked."),
    ({"checked": ""}, "Row 1 of 'f' has no 'checked'; every figure needs paper, method, "
     "benchmark, metric, value, source, checked."),
    ({"value": 0.915 * 1000}, "Row 1 of 'f': 'value' 915.0 is not a percentage in 0..100; "
     "write it as the paper prints it."),
    ({"value": "91.5"}, "Row 1 of 'f': 'value' must be a number in percent, got '91.5'."),
    ({"value": True}, "Row 1 of 'f': 'value' must be a number in percent, got True."),
    ({"metric": "auroc"}, "Row 1 of 'f' names unknown metric 'auroc'; use one of "
     + ", ".join(METRICS) + "."),
    ({"benchmark": "mvtec_ad"}, "Row 1 of 'f' names unknown benchmark 'mvtec_ad'; use one of "
     + ", ".join(BENCHMARKS) + "."),
    ({"table": "1"}, "Row 1 of 'f' has unknown field 'table'; use paper, method, benchmark, "
     "metric, value, source, checked, category, setting, note."),
    ({"paper": 3}, "Row 1 of 'f': 'paper' must be text."),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_ROWS)
def test_a_bad_row_is_refused_in_one_sentence(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_anchors(rows({**ROW, **change}), where="f")
    assert str(caught.value) == message


BAD_FILES = [
    ([], "Anchors file 'f' must be a mapping with an 'anchors' list; see eval/anchors.yaml."),
    ({"vlad_anchors": 2, "anchors": []},
     "Anchors file 'f' must say 'vlad_anchors: 1', got 2; this vlad reads version 1."),
    ({"vlad_anchors": 1, "anchors": [], "rows": []},
     "Anchors file 'f' has unknown top-level key 'rows'; keep 'vlad_anchors', 'anchors' and "
     "'x-...' templates."),
    ({"vlad_anchors": 1, "anchors": {"a": 1}}, "'anchors' in 'f' must be a list of rows."),
    ({"vlad_anchors": 1, "anchors": ["x"]}, "Row 1 of 'f' must be a mapping of fields."),
    (rows(ROW, ROW), "Row 2 of 'f' repeats row 1 (P (ICLR 2024), mvtec, image_auroc); keep one."),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), BAD_FILES)
def test_a_bad_file_is_refused_in_one_sentence(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_anchors(data, where="f")
    assert str(caught.value) == message


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_anchors(tmp_path / "none.yaml")
    assert str(caught.value) == (
        f"Anchors file '{tmp_path / 'none.yaml'}' does not exist; give the path of the "
        "eval/anchors.yaml of a vlad checkout."
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("anchors: [\n")
    with pytest.raises(ConfigError) as caught:
        load_anchors(broken)
    assert str(caught.value) == f"Anchors file '{broken}' is not valid YAML; fix it."


def test_the_same_figure_per_category_is_not_a_repeat() -> None:
    anchors = parse_anchors(rows(ROW, {**ROW, "category": "bottle"}), where="f")
    assert [a.category for a in anchors] == [None, "bottle"]
