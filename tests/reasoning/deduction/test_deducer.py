"""RuleDeducer: every method, its checks, budgets and explanations."""

from __future__ import annotations

import pytest

from tests.reasoning.deduction.helpers import (
    VOCAB,
    ScriptedChat,
    WordEmbedder,
    judge_answer,
    rules_of,
)
from tests.shared_data import ANOMALYRULER
from vlad.errors import ConfigError, InputError
from vlad.reasoning.deduction.deducer import RuleDeducer

SHARED = ANOMALYRULER


def test_deducer_needs_an_anomaly_rule_and_known_method() -> None:
    embedder = WordEmbedder(VOCAB)
    with pytest.raises(ConfigError, match="no anomaly rule"):
        RuleDeducer(rules_of([], ["Walking"]), embedder)
    with pytest.raises(ConfigError, match="Unknown deduction method 'magic'"):
        RuleDeducer(rules_of(["Running"], []), embedder, method="magic")
    with pytest.raises(ConfigError, match="needs an LLM"):
        RuleDeducer(rules_of(["Running"], []), embedder, method="hybrid")
    with pytest.raises(InputError, match="no frame descriptions"):
        RuleDeducer(rules_of(["Running"], []), embedder).deduce([[]])


def test_retrieval_deductions_cite_the_rule_and_say_why() -> None:
    embedder = WordEmbedder(VOCAB)
    deducer = RuleDeducer(rules_of(["Running"], ["Walking"]), embedder, smooth=0)
    [frames] = deducer.deduce([["The second person is running.", "A person is walking.", ""]])
    assert [f.verdict for f in frames] == ["anomalous", "normal", "normal"]
    assert frames[0].rules == ("a1",)
    assert frames[0].reason.startswith("'a person is running' matches the anomaly rule 'Running'")
    assert frames[1].rules == ("n1",)
    assert frames[2].reason == "The frame has no description."
    assert 0 <= frames[1].score < 0.5 < frames[0].score <= 1
    assert deducer.stats.frames == 3 and deducer.stats.llm_calls == 0


def test_llm_method_judges_each_distinct_caption_and_double_checks_positives() -> None:
    chat = ScriptedChat(judge_answer)
    deducer = RuleDeducer(rules_of(["Running"], ["Walking"]), method="llm", backend=chat, smooth=0)
    captions = ["A man is running."] * 3 + ["A man is walking."] * 2 + ["A man on a bench."]
    [frames] = deducer.deduce([captions])
    # 3 distinct captions, one positive double-checked: 4 calls for 6 frames.
    assert deducer.stats.llm_calls == 4
    assert deducer.stats.parse_failures == 1
    # Every answer's tokens count, the first answers of double-checked captions too.
    assert deducer.stats.llm_tokens == sum(len(judge_answer(t).split()) for t in chat.asked)
    assert [f.verdict for f in frames] == ["anomalous"] * 3 + ["normal"] * 3
    assert frames[0].rules == ("a1",) and frames[0].reason == "Still running."
    assert frames[3].rules == ("n1",)
    assert frames[5].score == 0.5 and frames[5].reason == "The LLM gave no usable answer."
    # The description is quoted as data in the prompt.
    assert 'Description: "A man is running."' in chat.asked[0]


def test_hybrid_stays_within_its_budget_and_moves_uncertain_frames() -> None:
    embedder = WordEmbedder(VOCAB)
    chat = ScriptedChat(judge_answer)
    rules = rules_of(["Running"], ["Walking"])
    captions = ["A person is walking."] * 30 + ["A person is running."] * 10
    captions += ["A person near a bench."] * 40
    deducer = RuleDeducer(
        rules, embedder, method="hybrid", backend=chat, smooth=0, llm_budget=0.05, scene_prior=False
    )
    [frames] = deducer.deduce([captions])
    assert deducer.stats.llm_calls <= 0.05 * len(captions)
    assert deducer.stats.llm_calls >= 1
    # The bench caption has margin 0 (no rule word): it is the least certain and asked first.
    assert any("bench" in asked for asked in chat.asked)
    assert deducer.stats.llm_calls == 2  # floor(0.05 * 80 / 2) questions, no positives
    plain = RuleDeducer(rules, embedder, smooth=0, scene_prior=False).deduce([captions])[0]
    # Asked: the bench (margin 0) and the walking frames (judged normal: margin - 0.2);
    # the running frames were not asked and keep their scores.
    assert [f.score for f in frames[30:40]] == [f.score for f in plain[30:40]]
    assert frames[0].margin == pytest.approx(plain[0].margin - 0.2)
    assert frames[0].reason.endswith("The LLM says: Walking is normal.")
    assert frames[40].margin == plain[40].margin  # unparseable answer: unchanged


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared AnomalyRuler captions not present")
def test_retrieval_with_minilm_on_real_ped2_captions() -> None:
    from vlad.data.captions import load_caption_dataset
    from vlad.encoders.text import load_embedder
    from vlad.runners.captions import dataset_rules, evaluate_captions

    videos = load_caption_dataset(SHARED, "ped2")[:3]
    rules, how = dataset_rules(SHARED, "ped2", videos)
    assert "rules.txt" in how
    figures, deductions = evaluate_captions(videos, rules, embedder=load_embedder("minilm"))
    assert figures["frames"] == sum(len(v.captions) for v in videos)
    assert figures["llm_calls_per_frame"] == 0
    assert figures["auc"] > 0.85
    cited = [d for frames in deductions for d in frames if d.verdict == "anomalous"]
    assert cited and all(d.rules and d.rules[0].startswith("anomaly-") for d in cited)


def test_a_scene_fitted_once_judges_each_video_as_in_one_call() -> None:
    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Running"], ["Walking"])
    videos = [
        ["A person is walking."] * 30 + ["A person near a bench."] * 10,
        ["A person near a bench."] * 5 + ["A person is running."] * 5,
    ]
    together = RuleDeducer(rules, embedder, smooth=2).deduce(videos)
    deducer = RuleDeducer(rules, embedder, smooth=2)
    references = deducer.fit_scene([d for v in videos for d in v])
    assert references == deducer.matcher.scene_references and references
    one_by_one = [deducer.deduce([v])[0] for v in videos]
    assert one_by_one == together
    # Without it, each call learns the scene from its own video only.
    alone = RuleDeducer(rules, embedder, smooth=2)
    alone.deduce([videos[1]])
    assert alone.matcher.scene_references != references
    assert RuleDeducer(rules, embedder, method="keywords").fit_scene(videos[0]) == []
