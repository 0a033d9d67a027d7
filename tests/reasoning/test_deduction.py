"""Deduction: clauses, rule phrases, smoothing, retrieval with the scene prior, LLM paths."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.shared_data import ANOMALYRULER
from vlad.errors import ConfigError, InputError
from vlad.reasoning.deduction import (
    RuleDeducer,
    RuleJudge,
    RuleMatcher,
    canonical_clause,
    keyword_scores,
    keyword_set,
    margin_to_score,
    rule_phrases,
    smooth_frames,
    split_clauses,
)
from vlad.reasoning.llm import GenerationSettings
from vlad.reasoning.rules import Rule, RuleSet

SHARED = ANOMALYRULER


class WordEmbedder:
    """Bag-of-words vectors over a fixed vocabulary: cosine = shared-word overlap, exactly."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.vocabulary = list(vocabulary)
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return "words"

    @property
    def dim(self) -> int:
        return len(self.vocabulary) + 1

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for word in words:
                if word in self.vocabulary:
                    out[row, self.vocabulary.index(word)] = 1.0
            out[row, -1] = 0.1  # keeps every vector non-zero
            out[row] /= np.linalg.norm(out[row])
        return out


class ScriptedChat:
    """A chat backend that answers from a function of the last user message."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        return "scripted"

    def chat(self, conversations, settings: GenerationSettings) -> list[str]:  # type: ignore[no-untyped-def]
        texts = [c[-1]["content"] for c in conversations]
        self.asked.extend(texts)
        return [self.answer(t) for t in texts]


def rules_of(anomaly: Sequence[str], normal: Sequence[str]) -> RuleSet:
    rules = [Rule(t, "anomaly", "human activity", f"a{i}") for i, t in enumerate(anomaly, 1)]
    rules += [Rule(t, "normal", "human activity", f"n{i}") for i, t in enumerate(normal, 1)]
    return RuleSet(tuple(rules))


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


def test_rule_phrases_keep_alternatives_but_not_bare_nouns() -> None:
    assert rule_phrases(
        "Using any non-walking movement such as riding a bicycle or scooter, skateboarding"
    ) == [
        "Using any non-walking movement such as riding a bicycle or scooter, skateboarding",
        "Using any non-walking movement",
        "riding a bicycle",
        "skateboarding",
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


def test_smooth_frames_exact_values() -> None:
    assert np.allclose(smooth_frames(np.full(7, 0.3), 2.0), 0.3)
    impulse = np.zeros(9)
    impulse[4] = 1.0
    out = smooth_frames(impulse, 1.0)
    kernel = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    assert out[4] == pytest.approx(1 / kernel.sum())
    assert out[3] == pytest.approx(out[5])
    assert out.sum() == pytest.approx(1.0)
    assert np.array_equal(smooth_frames(impulse, 0), impulse)
    with pytest.raises(ConfigError, match="zero or more frames"):
        smooth_frames(impulse, -1)


def test_margin_to_score() -> None:
    assert margin_to_score(0.0) == pytest.approx(0.5)
    assert margin_to_score(0.1) == pytest.approx(1 / (1 + np.exp(-1)))
    assert float(margin_to_score(-5.0)) < 1e-10


def test_keywords_are_anomaly_words_absent_from_normal_rules() -> None:
    rules = rules_of(["Running or jumping", "Riding a bicycle"], ["Walking", "Riding the elevator"])
    assert keyword_set(rules) == {"running", "jumping", "bicycle"}
    scores = keyword_scores(["a man runs", "he is running and jumping", "bicycles!"], {"running"})
    assert scores.tolist() == [0.0, 1.0, 0.0]
    assert keyword_scores(["two bicycles", "a bike"], {"bicycle"}).tolist() == [1.0, 0.0]


VOCAB = ["person", "running", "walking", "bicycle", "riding", "tree", "bench", "sitting"]


def test_matcher_margins_and_evidence_are_exact() -> None:
    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Running"], ["Walking"])
    matcher = RuleMatcher(rules, embedder, scene_prior=False)
    matches = matcher.frame_margins(
        ["The first person is walking, the second person is running.", "A person is walking."]
    )
    # "a person is running" shares "running" with the anomaly rule and nothing with "Walking":
    # cos = 1.01 / (sqrt(2.01) * sqrt(1.01)), against 0.01 / (...) for the normal rule.
    both = np.sqrt(2.01) * np.sqrt(1.01)
    assert matches.margins[0] == pytest.approx(1 / both, abs=1e-6)
    assert matches.margins[1] == pytest.approx(-1 / both, abs=1e-6)
    clause, rule, normal, a_sim, _ = matches.evidence(0)
    assert (clause, rule, normal) == ("a person is running", "a1", "n1")
    assert a_sim == pytest.approx(1.01 / both, abs=1e-6)


def test_scene_prior_learns_frequent_clauses_but_rules_keep_the_last_word() -> None:
    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Riding a bicycle", "Sitting on a bench"], ["Walking"])
    frames = ["A person is riding a bicycle. There is a tree."] * 6
    frames += ["A person is walking under a tree."] * 3 + ["A person is sitting on a bench."]
    matcher = RuleMatcher(rules, embedder, prior_min_share=0.3, prior_max_margin=0.3)
    learned = matcher.fit_scene(frames)
    # "there is a tree" is frequent and no rule calls it anomalous: it becomes normal.
    # "a person is riding a bicycle" is as frequent but a rule calls it anomalous: it stays.
    assert "there is a tree" in learned
    assert "a person is riding a bicycle" not in learned
    assert learned == ["there is a tree", "a person is walking under a tree"]
    assert "a person is sitting on a bench" not in learned  # seen in 1 of 10 frames only
    matches = matcher.frame_margins(frames)
    assert matches.margins[0] > 0 and matches.margins[9] > 0
    assert matches.margins[7] < 0
    # Similarity 0.8 * 1.0 to the learned clause beats 1.01 / sqrt(3.01 * 1.01) to "Walking".
    assert matches.evidence(7)[2] == "scene:a person is walking under a tree"


def test_matcher_embeds_each_distinct_clause_once() -> None:
    embedder = WordEmbedder(VOCAB)
    matcher = RuleMatcher(rules_of(["Running"], ["Walking"]), embedder, scene_prior=False)
    matcher.frame_margins(["The first person is running."] * 50 + ["One person is running."])
    clause_calls = [c for c in embedder.calls if "a person is running" in c]
    assert clause_calls == [["a person is running"]]


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


def judge_answer(text: str) -> str:
    if "Check again" in text:
        return '{"verdict": "anomalous", "rule": 1, "reason": "Still running."}'
    if "running" in text.split("Description:")[1]:
        return '{"verdict": "anomalous", "rule": 1, "reason": "Someone runs."}'
    if "bench" in text.split("Description:")[1]:
        return "I cannot tell."
    return '{"verdict": "normal", "rule": 2, "reason": "Walking is normal."}'


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


def test_rule_judge_reads_rule_numbers_in_order() -> None:
    rules = rules_of(["Running", "Fighting"], ["Walking"])
    chat = ScriptedChat(lambda t: json.dumps({"verdict": "anomalous", "rule": 2, "reason": "x"}))
    judge = RuleJudge(rules, chat, double_check=False)
    from vlad.reasoning.deduction import DeductionStats

    stats = DeductionStats(frames=1)
    [judgement] = judge.judge(["two people fight"], stats)
    assert judgement.rule == "a2"
    assert "1. Running\n2. Fighting\nNormal rules:\n3. Walking" in chat.asked[0]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared AnomalyRuler captions not present")
def test_retrieval_with_minilm_on_real_ped2_captions() -> None:
    from vlad.encoders.text import load_embedder
    from vlad.runners.captions import dataset_rules, evaluate_captions, load_caption_dataset

    videos = load_caption_dataset(SHARED, "ped2")[:3]
    rules, how = dataset_rules(SHARED, "ped2", videos)
    assert "rules.txt" in how
    figures, deductions = evaluate_captions(videos, rules, embedder=load_embedder("minilm"))
    assert figures["frames"] == sum(len(v.captions) for v in videos)
    assert figures["llm_calls_per_frame"] == 0
    assert figures["auc"] > 0.85
    cited = [d for frames in deductions for d in frames if d.verdict == "anomalous"]
    assert cited and all(d.rules and d.rules[0].startswith("anomaly-") for d in cited)


def test_rules_become_a_memory_whose_neighbours_cite_rules(tmp_path: Path) -> None:
    from vlad.reasoning.deduction import rules_to_memory
    from vlad.scoring.memory import MemoryIndex

    embedder = WordEmbedder(VOCAB)
    rules = rules_of(["Running", "Riding a bicycle or sitting on a bench"], ["Walking"])
    memory = rules_to_memory(rules, embedder)
    assert [(e.text, e.label, e.source) for e in memory.entries] == [
        ("Running", "anomalous", "rule:a1"),
        ("Riding a bicycle or sitting on a bench", "anomalous", "rule:a2"),
        ("Riding a bicycle", "anomalous", "rule:a2"),
        ("sitting on a bench", "anomalous", "rule:a2"),
        ("Walking", "normal", "rule:n1"),
    ]
    memory.save(tmp_path / "rules-memory")
    loaded = MemoryIndex.load(tmp_path / "rules-memory")
    [nearest] = loaded.explain(embedder.embed(["a person riding a bicycle"])[0], k=1)
    assert nearest.text == "Riding a bicycle"
    assert loaded.entry(nearest.index).source == "rule:a2"
