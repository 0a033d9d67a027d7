"""The caption evaluation loop: where the rules come from, and the figures it returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.test_captions import write
from vlad.data.captions import load_caption_dataset
from vlad.errors import ConfigError
from vlad.runners.captions import dataset_rules, evaluate_captions


def test_rules_come_from_the_path_then_the_dataset_and_else_need_an_llm(tmp_path: Path) -> None:
    root = write(tmp_path, {"t": (["a man runs", "a man walks"], ["1", "0"])})
    videos = load_caption_dataset(root, "toy")
    with pytest.raises(
        ConfigError, match=r"^The dataset toy has no rules\.txt; pass rules_path"
    ) as info:
        dataset_rules(root, "toy", videos)
    assert info.value.param == "rules_path"
    assert "pass --rules or" in info.value.for_surface({"rules_path": "--rules"})
    own = write(tmp_path / "own", {"t": (["a man runs"], ["1"])}, rules=True)
    rules, how = dataset_rules(own, "toy", videos)
    assert how.startswith("the dataset's rules (") and [r.text for r in rules.anomaly()] == [
        "Running"
    ]
    path = tmp_path / "mine.txt"
    path.write_text("**Anomaly Human Activities:**\n1. Walking fast\n")
    rules, how = dataset_rules(own, "toy", videos, rules_path=path, definitions=["a dog"])
    assert how == f"rules from {path}"
    assert [r.text for r in rules.anomaly()] == ["Walking fast", "a dog"]


def test_keyword_evaluation_figures_are_exact(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"t": (["a man is running", "a man is walking", "a man is walking"], ["1", "0", "0"])},
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    figures, deductions = evaluate_captions(videos, rules, method="keywords", smooth=0)
    assert [d.verdict for d in deductions[0]] == ["anomalous", "normal", "normal"]
    assert figures["auc"] == 1.0 and figures["accuracy"] == 1.0
    assert figures["frames"] == 3 and figures["videos"] == 1
    assert figures["llm_calls_per_frame"] == 0 and figures["method"] == "keywords"
    assert figures["scene_prior"] is False and "scene_references" not in figures


def test_a_deduction_config_gives_the_same_figures_as_keywords(tmp_path: Path) -> None:
    from vlad.config import DeductionConfig

    root = write(
        tmp_path,
        {"t": (["a man is running", "a man is walking", "a man is walking"], ["1", "0", "0"])},
        rules=True,
    )
    videos = load_caption_dataset(root, "toy")
    rules, _ = dataset_rules(root, "toy", videos)
    plain, _ = evaluate_captions(videos, rules, method="keywords", smooth=0)
    configured, _ = evaluate_captions(
        videos, rules, config=DeductionConfig(method="keywords", smooth=0)
    )
    plain.pop("wall_s"), configured.pop("wall_s")
    assert configured == plain
    with pytest.raises(ConfigError, match=r"^smooth must be zero or more frames") as info:
        evaluate_captions(videos, rules, method="keywords", smooth=-1)
    assert info.value.param == "smooth"
