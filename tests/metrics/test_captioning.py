"""Captioning metrics: hand-worked values, coco-caption parity on UCA sentences, bad inputs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.shared_data import UCA
from vlad.errors import InputError
from vlad.metrics import PUNCTUATIONS, bleu, caption_scores, cider_d, rouge_l, tokenize

TINY, SMALL = 1e-15, 1e-9  # coco-caption's guards


def uca_sentences(split: str) -> list[str]:
    path = UCA / f"UCFCrime_{split}.json"
    if not path.is_file():
        pytest.skip(f"UCA data not found at {UCA}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [s for video in data.values() for s in video["sentences"]]


# ------------------------------------------------------------------------------ tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "Two men, one wearing black-and-white clothes, fight.",
            "two men one wearing black-and-white clothes fight",
        ),
        (
            "The man's car can't go 100% at 5:30 pm & $20",
            "the man 's car ca n't go 100 % at 5:30 pm & $ 20",
        ),
        (
            'A man (in red) said "hello"; didn\'t he? Yes... 3.5 m/s -- U.S. cars!',
            "a man -lrb- in red -rrb- said hello did n't he yes 3.5 m/s u.s. cars",
        ),
        ("He said 'no' isn't it A.M.", "he said no is n't it a.m."),
        (
            "The driver\u2019s seat \u201cnow\u201d {x} [y]",
            "the driver 's seat now -lcb- x -rcb- -lsb- y -rsb-",
        ),
        ("#The man\nleft  the   shop", "#the man left the shop"),
        ("Stop...!? ... --", "stop !?"),
    ],
)
def test_tokenize_follows_ptb_with_coco_punctuation_removed(text: str, tokens: str) -> None:
    assert tokenize(text) == tokens.split()


def test_tokenize_drops_exactly_cocos_punctuation_list() -> None:
    assert {",", ".", "...", "--", "``", "''"} <= PUNCTUATIONS
    assert tokenize("a , b . c ; d : e ? f ! g - h -- i ... j ' k ` l") == list("abcdefghijkl")


@pytest.mark.parity
def test_tokenize_equals_stanford_ptb_tokenizer_on_every_uca_sentence() -> None:
    pytest.importorskip("pycocoevalcap")
    if shutil.which("java") is None:
        pytest.skip("java is not installed (coco-caption's tokenizer runs on it)")
    import pycocoevalcap.tokenizer.ptbtokenizer as ptb

    sentences = [s.replace("\n", " ") for s in uca_sentences("Test") + uca_sentences("Val")]
    folder = Path(ptb.__file__).parent
    done = subprocess.run(
        [
            "java",
            "-cp",
            ptb.STANFORD_CORENLP_3_4_1_JAR,
            "edu.stanford.nlp.process.PTBTokenizer",
            "-preserveLines",
            "-lowerCase",
        ],
        cwd=folder,
        input="\n".join(sentences).encode(),
        capture_output=True,
        check=True,
        timeout=240,
    )
    lines = done.stdout.decode().split("\n")
    differ = [
        s
        for s, line in zip(sentences, lines, strict=False)
        if tokenize(s) != [w for w in line.rstrip().split(" ") if w not in ptb.PUNCTUATIONS]
    ]
    assert len(sentences) == 7865
    assert differ == []


# ---------------------------------------------------------------------------------- BLEU


def test_bleu_brevity_penalty_and_missing_ngrams_as_coco_caption() -> None:
    scores = bleu([["a", "cat", "sat"]], [[["a", "cat", "sat", "down"]]])
    penalty = math.exp(1 - 4 / 3)  # c = 3 < r = 4
    assert scores[0] == pytest.approx(penalty, abs=1e-8)
    assert scores[1] == pytest.approx(penalty, abs=1e-8)
    assert scores[2] == pytest.approx(penalty, abs=1e-8)
    # No 4-gram guessed: (0 + 1e-15) / (0 + 1e-9), the fourth root of it.
    assert scores[3] == pytest.approx((TINY / SMALL) ** 0.25 * penalty, rel=1e-9)


def test_bleu_clips_counts_by_the_largest_count_of_any_reference() -> None:
    scores = bleu(
        [["the", "cat", "the", "cat"]],
        [[["the", "cat", "sat"], ["a", "cat", "the"]]],
        n=2,
    )
    # unigrams: 'the' and 'cat' each clipped to 1 -> 2/4; bigrams: (the cat) 1, (cat the) 1 -> 2/3
    assert scores == pytest.approx((0.5, math.sqrt(0.5 * 2 / 3)), abs=1e-9)


def test_bleu_takes_the_closest_reference_length_shorter_on_ties() -> None:
    # Lengths 2 and 4 are both 1 away from 3: the shorter (2) is taken, so no penalty.
    assert bleu([["a", "b", "c"]], [[["a", "b"], ["a", "b", "c", "d"]]], n=1)[0] == (
        pytest.approx(1.0, abs=1e-9)
    )
    # Only the length 4 reference: penalty exp(1 - 4/3).
    assert bleu([["a", "b", "c"]], [[["a", "b", "c", "d"]]], n=1)[0] == (
        pytest.approx(math.exp(1 - 4 / 3), abs=1e-9)
    )


def test_bleu_sums_counts_over_the_corpus_before_dividing() -> None:
    scores = bleu([["a", "b"], ["c", "x", "y", "z"]], [[["a", "b"]], [["c", "d", "e", "f"]]], n=1)
    assert scores[0] == pytest.approx(3 / 6, abs=1e-9)


# ------------------------------------------------------------------------------- ROUGE-L


def test_rouge_l_is_the_f_measure_of_the_longest_common_subsequence() -> None:
    mean, items = rouge_l([["a", "b", "c", "d"]], [[["a", "c", "d", "e", "f"]]])
    precision, recall = 3 / 4, 3 / 5
    expected = 2.44 * precision * recall / (recall + 1.44 * precision)
    assert mean == pytest.approx(expected, abs=1e-12)
    assert items.tolist() == pytest.approx([expected], abs=1e-12)


def test_rouge_l_takes_best_precision_and_best_recall_over_references_separately() -> None:
    mean, _ = rouge_l([["a", "b", "c", "d"]], [[["a", "b"], ["a", "c", "d", "e", "f"]]])
    assert mean == pytest.approx(2.44 * 0.75 * 1.0 / (1.0 + 1.44 * 0.75), abs=1e-12)


def test_rouge_l_of_an_empty_hypothesis_is_zero_and_the_corpus_figure_a_mean() -> None:
    mean, items = rouge_l([[], ["x"]], [[["x"]], [["x"]]])
    assert items.tolist() == [0.0, 1.0]
    assert mean == 0.5


# ------------------------------------------------------------------------------- CIDEr-D


def test_cider_d_hand_worked_two_items() -> None:
    # df over 2 items: every n-gram of a reference occurs in one item -> idf = ln 2 for all.
    # Item 1 equals its reference: cosine 1 for 1- and 2-grams, 0 for 3- and 4-grams (none),
    # mean 0.5, times 10 -> 5. Item 2 shares nothing with its reference -> 0.
    mean, items = cider_d([["a", "b"], ["c"]], [[["a", "b"]], [["d"]]])
    assert items.tolist() == pytest.approx([5.0, 0.0], abs=1e-12)
    assert mean == pytest.approx(2.5, abs=1e-12)


def test_cider_d_length_penalty_counts_bigrams() -> None:
    # Hypothesis 'a b c' (2 bigrams) against 'a b' (1 bigram): penalty exp(-1 / 72).
    _, items = cider_d([["a", "b", "c"], ["z"]], [[["a", "b"]], [["y"]]])
    ln2 = math.log(2)
    # 1-grams: hyp {a, b, c} all weighted ln2, ref {a, b}: cos = 2 / (sqrt(3) sqrt(2));
    # 2-grams: hyp {ab, bc}, ref {ab}: cos = 1 / sqrt(2).
    cos1 = 2 * ln2**2 / (math.sqrt(3) * ln2 * math.sqrt(2) * ln2)
    cos2 = 1 / math.sqrt(2)
    expected = (cos1 + cos2) / 4 * math.exp(-1 / 72) * 10
    assert items[0] == pytest.approx(expected, abs=1e-12)


def test_cider_d_of_one_item_is_zero_as_in_coco_caption() -> None:
    assert cider_d([["a"]], [[["a"]]])[0] == 0.0


# ----------------------------------------------------------------------- caption_scores


def test_caption_scores_tokenizes_sentences_and_names_the_figures() -> None:
    scores = caption_scores(["A cat sat.", "A dog ran!"], [["a cat sat"], ["A dog, ran"]])
    figures = scores.figures()
    assert list(figures) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    assert figures["BLEU-1"] == pytest.approx(1.0, abs=1e-9)
    assert figures["ROUGE-L"] == 1.0
    assert scores.item_rouge_l.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: bleu([["a"]], [[["a"]], [["b"]]]),
            "hypotheses has 1 items but references has 2; give one list of references per "
            "hypothesis.",
        ),
        (lambda: bleu([], []), "hypotheses is empty; give at least one item to score."),
        (
            lambda: bleu(["a b"], [[["a"]]]),
            "hypotheses[0] is not a list of token strings; tokenize it first.",
        ),
        (
            lambda: rouge_l([["a"]], [[]]),
            "references[0] holds no reference; give at least one token list.",
        ),
        (
            lambda: cider_d([["a"]], [["a b"]]),
            "references[0] holds something other than token lists; tokenize the references first.",
        ),
        (
            lambda: bleu("a b", [[["a"]]]),
            "hypotheses and references must be lists of token lists, not one string.",
        ),
        (lambda: bleu([["a"]], [[["a"]]], n=0), "n must be at least 1, got 0."),
        (
            lambda: caption_scores([["a"]], [["a"]]),
            "hypotheses must be a list of sentences (or pass tokenized=True).",
        ),
        (
            lambda: caption_scores(["a"], ["a"]),
            "references must hold a list of sentences per item (or pass tokenized=True).",
        ),
    ],
)
def test_bad_inputs_say_one_sentence(call, message: str) -> None:
    with pytest.raises(InputError) as caught:
        call()
    assert str(caught.value) == message
    assert caught.value.param in ("hypotheses", "references", "n")


# ---------------------------------------------------------------------- UCA, parity


def perturbed(tokens: list[str], seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    kept = [t for t in tokens if rng.random() > 0.3]
    if rng.random() < 0.3:
        rng.shuffle(kept)
    return kept


def test_uca_validation_sentences_score_perfectly_against_themselves_and_less_perturbed() -> None:
    sentences = uca_sentences("Val")
    tokens = [tokenize(s) for s in sentences]
    refs = [[t] for t in tokens]
    same = bleu(tokens, refs)
    assert same == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-9)
    assert rouge_l(tokens, refs)[0] == 1.0
    changed = [perturbed(t, i) for i, t in enumerate(tokens)]
    worse = bleu(changed, refs)
    assert all(w < s for w, s in zip(worse, same, strict=True))
    assert worse[0] > worse[1] > worse[2] > worse[3]
    assert rouge_l(changed, refs)[0] < 1.0
    assert cider_d(changed, refs)[0] < cider_d(tokens, refs)[0]


@pytest.mark.parity
def test_bleu_rouge_cider_equal_pycocoevalcap_on_uca_test_sentences() -> None:
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    sentences = uca_sentences("Test")
    tokens = [tokenize(s) for s in sentences]
    # Two references per item (the sentence and its neighbour) and a perturbed hypothesis.
    refs = [[t, tokens[(i + 1) % len(tokens)]] for i, t in enumerate(tokens)]
    hyps = [perturbed(t, i) for i, t in enumerate(tokens)]
    gts = {i: [" ".join(r) for r in rs] for i, rs in enumerate(refs)}
    res = {i: [" ".join(h)] for i, h in enumerate(hyps)}
    coco_bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    coco_rouge, coco_rouge_items = Rouge().compute_score(gts, res)
    coco_cider, coco_cider_items = Cider().compute_score(gts, res)
    assert bleu(hyps, refs) == pytest.approx(tuple(coco_bleu), abs=1e-4)
    rouge, rouge_items = rouge_l(hyps, refs)
    cider, cider_items = cider_d(hyps, refs)
    assert rouge == pytest.approx(coco_rouge, abs=1e-4)
    assert cider == pytest.approx(coco_cider, abs=1e-4)
    np.testing.assert_allclose(rouge_items, coco_rouge_items, atol=1e-4)
    np.testing.assert_allclose(cider_items, coco_cider_items, atol=1e-4)
