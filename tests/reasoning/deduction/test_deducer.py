"""RuleDeducer: every method, its checks, budgets and explanations."""

from __future__ import annotations

import math

import numpy as np
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
from vlad.reasoning.deduction.deducer import (
    RuleDeducer,
    centre_margins,
    deciding_frame,
    frame_track,
)
from vlad.scoring.temporal import smooth_frames

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


# --- per-video normalisation, the deciding frame, explanations that cite --------------------

# Bag-of-words cosines (WordEmbedder, float32, so to 1e-6): a clause "a person is running"
# against the rule phrase "Running" is 1.01 / sqrt(2.01 * 1.01), against "Walking" 0.01 / the same.
A = 1.0 / math.sqrt(2.01 * 1.01)


def test_centre_margins_subtracts_a_share_of_the_video_median() -> None:
    margins = np.array([0.1, 0.3, -0.2, 0.5])  # median 0.2
    assert np.allclose(centre_margins(margins, 0.5), [0.0, 0.2, -0.3, 0.4], atol=1e-15)
    assert np.allclose(centre_margins(margins, 1.0), [-0.1, 0.1, -0.4, 0.3], atol=1e-15)
    assert np.array_equal(centre_margins(margins, 0.0), margins)
    assert centre_margins(np.array([]), 0.5).size == 0
    track = frame_track(margins, video_norm=0.5, smooth=1.0)
    assert np.allclose(track, smooth_frames(centre_margins(margins, 0.5), 1.0), atol=1e-15)


def test_deciding_frame_is_the_frame_itself_or_its_strongest_neighbour_of_that_sign() -> None:
    centred = np.array([0.3, 0.5, -0.4, 0.5, 0.2])
    # Its own margin agrees with the verdict: itself.
    assert deciding_frame(centred, 1, 0.2, 1.0) == 1
    assert deciding_frame(centred, 2, -0.1, 1.0) == 2
    # Judged anomalous by its neighbours: frames 1 and 3 weigh the same, the first wins.
    assert deciding_frame(centred, 2, 0.1, 1.0) == 1
    # Frame 0 judged normal: the only normal frame in reach is frame 2.
    assert deciding_frame(centred, 0, -0.05, 1.0) == 2
    # No smoothing, or no frame of that sign in reach: itself.
    assert deciding_frame(centred, 2, 0.1, 0.0) == 2
    assert deciding_frame(np.array([0.1, 0.2]), 0, -0.1, 1.0) == 0
    # Weight times margin: a strong margin two frames away beats a weak one next door.
    assert deciding_frame(np.array([-0.1, 0.01, -0.2, 0.0, 0.9]), 3, 0.3, 2.0) == 4


def test_a_frame_judged_anomalous_by_its_neighbours_cites_their_clause_and_rule() -> None:
    captions = [
        "A man is running.",
        "The second person is running.",
        "A person is walking.",
        "Another is running.",  # a subject without a noun counts as a person
        "A person is running.",
    ]
    deducer = RuleDeducer(
        rules_of(["Running"], ["Walking"]),
        WordEmbedder(VOCAB),
        smooth=1.0,
        video_norm=0.0,
        scene_prior=False,
    )
    [frames] = deducer.deduce([captions])
    e1, e2 = math.exp(-0.5), math.exp(-2.0)
    middle = A * (2 * e2 + 2 * e1 - 1) / (1 + 2 * e1 + 2 * e2)
    assert frames[2].margin == pytest.approx(middle, abs=1e-6)
    assert frames[2].verdict == "anomalous"
    assert frames[2].evidence_frame == 1
    assert frames[2].clause == "a person is running"
    assert frames[2].rules == ("a1",)
    assert frames[2].reason == (
        f"Frame 1 nearby: 'a person is running' matches the anomaly rule 'Running' "
        f"(similarity {1.01 * A:.2f}, nearest normal {0.01 * A:.2f})."
    )
    assert [f.evidence_frame for f in frames] == [0, 1, 1, 3, 4]
    assert frames[3].reason.startswith("'a person is running' matches")
    record = frames[2].to_record()
    assert record["evidence_frame"] == 1 and record["pattern"] is None


def test_video_norm_lowers_each_video_by_a_share_of_its_median_margin() -> None:
    captions = ["A person is running."] * 3 + ["A person is walking."] * 2
    rules = rules_of(["Running"], ["Walking"])
    plain, normed = (
        RuleDeducer(rules, WordEmbedder(VOCAB), smooth=0, video_norm=v, scene_prior=False).deduce(
            [captions]
        )[0]
        for v in (0.0, 0.5)
    )
    assert [f.margin for f in plain] == pytest.approx([A, A, A, -A, -A], abs=1e-6)
    # Median A: half of it comes off every frame.
    assert [f.margin for f in normed] == pytest.approx([A / 2] * 3 + [-1.5 * A] * 2, abs=1e-6)
    with pytest.raises(ConfigError, match=r"video_norm must lie in \[0, 1\], got 1.5"):
        RuleDeducer(rules, WordEmbedder(VOCAB), video_norm=1.5)


def test_a_normal_frame_names_the_normal_rule_or_the_scene_pattern_it_matched() -> None:
    captions = ["A person is sitting on a bench."] * 4 + ["A person is walking."]
    deducer = RuleDeducer(
        rules_of(["Running"], ["Walking"]), WordEmbedder(VOCAB), smooth=0, video_norm=0.0
    )
    [frames] = deducer.deduce([captions])
    # "a person is sitting on a bench" is in 4 of 5 frames: the scene's usual clause; it
    # matches itself with weight 0.7, above its 0.01 / sqrt(3.01 * 1.01) to "Walking".
    assert deducer.matcher is not None
    assert deducer.matcher.scene_references == ["a person is sitting on a bench"]
    first = frames[0]
    assert first.verdict == "normal" and first.rules == ()
    assert first.pattern == "a person is sitting on a bench"
    assert first.margin == pytest.approx(0.01 / math.sqrt(3.01 * 1.01) - 0.7, abs=1e-6)
    assert first.reason == (
        "'a person is sitting on a bench' is closest to the scene's usual "
        "'a person is sitting on a bench' (similarity 0.70)."
    )
    last = frames[4]
    assert last.verdict == "normal" and last.rules == ("n1",) and last.pattern is None
    assert last.reason == (
        f"'a person is walking' is closest to the normal rule 'Walking' "
        f"(similarity {1.01 * A:.2f})."
    )
    assert first.to_record()["pattern"] == "a person is sitting on a bench"


def test_a_blank_neighbour_is_never_cited() -> None:
    # Margins [-A, 0, -A, -A, -A], median -A: centred [0, A, 0, 0, 0]. Smoothing makes
    # frame 0 anomalous through the blank frame 1 alone, which has no clause to cite.
    captions = ["A person is walking.", ""] + ["A person is walking."] * 3
    deducer = RuleDeducer(
        rules_of(["Running"], ["Walking"]),
        WordEmbedder(VOCAB),
        smooth=1.0,
        video_norm=1.0,
        scene_prior=False,
    )
    [frames] = deducer.deduce([captions])
    assert frames[0].verdict == "anomalous"
    assert frames[0].evidence_frame == 0
    assert frames[0].reason.startswith("'a person is walking' matches the anomaly rule 'Running'")
    assert frames[1].reason == "The frame has no description."
    assert frames[1].evidence_frame is None
