"""Captioning metrics as the captioning literature reports them: BLEU-1..4, ROUGE-L, CIDEr-D.

The figures are those of coco-caption (the ``pycocoevalcap`` package, version 1.2), computed
here in pure Python so that no Java and no peer package is needed:

- :func:`tokenize` does in Python what coco-caption's ``PTBTokenizer`` does through Stanford
  CoreNLP 3.4.1 (``PTBTokenizer -preserveLines -lowerCase``, then the tokens of its
  ``PUNCTUATIONS`` list dropped): lower case; ``n't`` and the clitics ``'s 're 've 'll 'm
  'd`` split off their word; quotes, ``. , ; : ? ! - -- ...`` dropped; other symbols
  (``% $ & # /`` ...) kept as tokens of their own, and so are runs such as ``!?``
  (one PTB token, not in the list); numbers (``3.5``, ``5:30``, ``1,000``),
  hyphenated and slashed words (``black-and-white``, ``m/s``) and dotted abbreviations
  (``u.s.``, ``a.m.``, ``mr.``) kept whole. Brackets become ``-lrb- -rrb- -lsb- -rsb- -lcb-
  -rcb-`` and, as in coco-caption (its list holds the upper-case forms only, which
  ``-lowerCase`` never prints), are kept.
- :func:`bleu`: corpus BLEU-1..n with the reference length closest to each hypothesis
  (ties: the shorter), clipped n-gram counts summed over the corpus, the brevity penalty
  ``exp(1 - r/c)`` when ``c < r``, and coco-caption's 1e-15 / 1e-9 guards against 0/0.
- :func:`rouge_l`: per item, the longest common subsequence against each reference,
  the best precision and the best recall over references (taken separately), combined as
  ``(1 + b^2) P R / (R + b^2 P)`` with ``b = 1.2``; the corpus figure is the mean.
- :func:`cider_d`: tf-idf vectors of 1- to 4-grams, document frequencies counted over the
  references of the whole corpus (``idf = log(items) - log(max(1, df))``), hypothesis
  counts clipped at the reference's, a Gaussian length penalty with ``sigma = 6``, the mean
  over n-gram sizes and references, times 10. As in coco-caption's code, the "length" in
  the penalty is the number of bigrams of a sentence (its words minus one).

Sources: Papineni et al. 2002 (BLEU), Lin 2004 (ROUGE-L), Vedantam et al. 2015 (CIDEr,
CIDEr-D); the exact conventions above were read from pycocoevalcap 1.2 and are checked
against it in ``tests/metrics/test_captioning.py``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vlad.errors import InputError

__all__ = [
    "PUNCTUATIONS",
    "CaptionScores",
    "bleu",
    "caption_scores",
    "cider_d",
    "rouge_l",
    "tokenize",
]

#: Tokens coco-caption drops after PTB tokenisation (its ``PUNCTUATIONS`` list).
PUNCTUATIONS: frozenset[str] = frozenset(
    {
        "''",
        "'",
        "``",
        "`",
        "-LRB-",
        "-RRB-",
        "-LCB-",
        "-RCB-",
        ".",
        "?",
        "!",
        ",",
        ":",
        "-",
        "--",
        "...",
        ";",
    }
)

_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
# Words PTB keeps with their final period (a short list of titles and abbreviations).
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "vs.", "prof.", "etc.", "inc.", "no."}
)
# PTB reads typographic quotes as the ASCII ones (so "driver’s" gives "'s" too).
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_DOTS_DASHES = re.compile(r"\.\.\.+|--+")
_DOTTED = re.compile(r"(?:\w\.){2,}")
_CLITIC = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'ll|'m|'d)\b")
_TOKEN = re.compile(
    r"""
      (?:\w\.){2,}                      # dotted abbreviations: u.s. a.m. e.g.
    | \d+(?:[.,:/]\d+)+                 # numbers with separators: 3.5 5:30 1,000 1/2
    | n't | '(?:s|re|ve|ll|m|d)\b       # clitics split off by _CLITIC
    | \#?\w+(?:['&/-]\w+)*\.?            # words, hyphenated or slashed, hashtags; a final period
    | \.\.\.+ | --+                     # ellipsis and dashes
    | [!?]{2,}                          # PTB keeps '!?' and '!!' whole (and so kept)
    | \S                                # any other symbol on its own
    """,
    re.VERBOSE,
)

_BLEU_TINY = 1e-15  # coco-caption's guards: 0 correct of 0 guessed gives 0, not 0/0
_BLEU_SMALL = 1e-9
_ROUGE_BETA = 1.2
_CIDER_N = 4
_CIDER_SIGMA = 6.0


def tokenize(text: str) -> list[str]:
    """Tokenise a sentence as coco-caption's PTB tokenizer does, punctuation removed.

    Args:
        text: One sentence (or several on one line).

    Returns:
        Lower-case tokens.

    Example:
        >>> tokenize("A man (in red) didn't stop, at 5:30 p.m.!")
        ['a', 'man', '-lrb-', 'in', 'red', '-rrb-', 'did', "n't", 'stop', 'at', '5:30', 'p.m.']
    """
    lowered = _CLITIC.sub(r" \1", text.lower().translate(_QUOTES).replace("\n", " "))
    tokens: list[str] = []
    for match in _TOKEN.finditer(lowered):
        token = match.group(0)
        if token == '"' or token in PUNCTUATIONS or _DOTS_DASHES.fullmatch(token):
            continue
        if (
            token.endswith(".")
            and len(token) > 1
            and token not in _ABBREVIATIONS
            and not _DOTTED.fullmatch(token)
        ):
            token = token[:-1]  # a word's final period is a token of its own, dropped
        tokens.append(_BRACKETS.get(token, token))
    return tokens


@dataclass(frozen=True)
class CaptionScores:
    """Corpus figures of hypotheses scored against their references, and per item.

    Attributes:
        bleu: Corpus BLEU-1..4.
        rouge_l: Mean ROUGE-L over items.
        cider_d: Mean CIDEr-D over items.
        item_rouge_l: ROUGE-L of each item.
        item_cider_d: CIDEr-D of each item (document frequencies from the whole corpus).
    """

    bleu: tuple[float, ...]
    rouge_l: float
    cider_d: float
    item_rouge_l: NDArray[np.float64]
    item_cider_d: NDArray[np.float64]

    def figures(self) -> dict[str, float]:
        """The corpus figures by their usual names (``BLEU-1`` ... ``ROUGE-L``, ``CIDEr-D``)."""
        named = {f"BLEU-{k + 1}": value for k, value in enumerate(self.bleu)}
        named["ROUGE-L"] = self.rouge_l
        named["CIDEr-D"] = self.cider_d
        return named


def _check_corpus(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> None:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise InputError(
            "hypotheses and references must be lists of token lists, not one string.",
            param="hypotheses",
        )
    if len(hypotheses) != len(references):
        raise InputError(
            f"hypotheses has {len(hypotheses)} items but references has {len(references)}; "
            "give one list of references per hypothesis.",
            param="references",
        )
    if not hypotheses:
        raise InputError(
            "hypotheses is empty; give at least one item to score.", param="hypotheses"
        )
    for index, (hypothesis, refs) in enumerate(zip(hypotheses, references, strict=True)):
        if isinstance(hypothesis, str) or any(not isinstance(t, str) for t in hypothesis):
            raise InputError(
                f"hypotheses[{index}] is not a list of token strings; tokenize it first.",
                param="hypotheses",
            )
        if isinstance(refs, str) or not refs:
            raise InputError(
                f"references[{index}] holds no reference; give at least one token list.",
                param="references",
            )
        for ref in refs:
            if isinstance(ref, str) or any(not isinstance(t, str) for t in ref):
                raise InputError(
                    f"references[{index}] holds something other than token lists; "
                    "tokenize the references first.",
                    param="references",
                )


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


def bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    n: int = 4,
) -> tuple[float, ...]:
    """Corpus BLEU-1..n of tokenised hypotheses, each against its own references.

    Args:
        hypotheses: One token list per item.
        references: Per item, one or more reference token lists.
        n: Largest n-gram size.

    Returns:
        BLEU-1 ... BLEU-n.

    Raises:
        InputError: The lists differ in length, are empty, or an item has no reference.

    Example:
        >>> round(bleu([["a", "cat", "sat"]], [[["a", "cat", "sat", "down"]]])[0], 4)
        0.7165
    """
    _check_corpus(hypotheses, references)
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}.", param="n")
    guess = [0] * n
    correct = [0] * n
    test_length = 0
    ref_length = 0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        length = len(hypothesis)
        best: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            best |= _ngrams(ref, n)  # Counter union keeps the largest count of each n-gram
        ref_length += min((abs(len(ref) - length), len(ref)) for ref in refs)[1]
        test_length += length
        for gram, count in _ngrams(hypothesis, n).items():
            correct[len(gram) - 1] += min(count, best.get(gram, 0))
        for k in range(n):
            guess[k] += max(0, length - k)
    scores = []
    product = 1.0
    for k in range(n):
        product *= (correct[k] + _BLEU_TINY) / (guess[k] + _BLEU_SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_length + _BLEU_TINY) / (ref_length + _BLEU_SMALL)
    if ratio < 1:
        penalty = math.exp(1 - 1 / ratio)
        scores = [score * penalty for score in scores]
    return tuple(scores)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def rouge_l(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
) -> tuple[float, NDArray[np.float64]]:
    """ROUGE-L (F with beta 1.2) of tokenised hypotheses: the mean and each item's.

    Args:
        hypotheses: One token list per item.
        references: Per item, one or more reference token lists.

    Returns:
        The mean over items and the per-item scores. An empty hypothesis scores 0.

    Raises:
        InputError: The lists differ in length, are empty, or an item has no reference.

    Example:
        >>> round(rouge_l([["a", "cat", "sat"]], [[["a", "cat", "sat", "down"]]])[0], 4)
        0.8356
    """
    _check_corpus(hypotheses, references)
    scores = np.zeros(len(hypotheses))
    beta2 = _ROUGE_BETA**2
    for index, (hypothesis, refs) in enumerate(zip(hypotheses, references, strict=True)):
        if not hypothesis:
            continue
        precision = 0.0
        recall = 0.0
        for ref in refs:
            if not ref:
                continue
            common = _lcs_length(ref, hypothesis)
            precision = max(precision, common / len(hypothesis))
            recall = max(recall, common / len(ref))
        if precision > 0 and recall > 0:
            scores[index] = (1 + beta2) * precision * recall / (recall + beta2 * precision)
    return float(scores.mean()), scores


def _tfidf(
    counts: Counter[tuple[str, ...]], idf: dict[tuple[str, ...], float], log_items: float
) -> tuple[list[dict[tuple[str, ...], float]], list[float], int]:
    vectors: list[dict[tuple[str, ...], float]] = [{} for _ in range(_CIDER_N)]
    norms = [0.0] * _CIDER_N
    bigrams = 0
    for gram, count in counts.items():
        size = len(gram) - 1
        weight = count * idf.get(gram, log_items)
        vectors[size][gram] = weight
        norms[size] += weight * weight
        if size == 1:
            bigrams += count
    return vectors, [math.sqrt(v) for v in norms], bigrams


def cider_d(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
) -> tuple[float, NDArray[np.float64]]:
    """CIDEr-D of tokenised hypotheses: the mean and each item's.

    Document frequencies come from the references of all the items given, so the figure
    depends on the corpus, as in coco-caption (one item alone scores 0).

    Args:
        hypotheses: One token list per item.
        references: Per item, one or more reference token lists.

    Returns:
        The mean over items and the per-item scores.

    Raises:
        InputError: The lists differ in length, are empty, or an item has no reference.
    """
    _check_corpus(hypotheses, references)
    cooked_refs = [[_ngrams(ref, _CIDER_N) for ref in refs] for refs in references]
    frequency: Counter[tuple[str, ...]] = Counter()
    for refs in cooked_refs:
        frequency.update(set().union(*(ref.keys() for ref in refs)))
    log_items = math.log(float(len(hypotheses)))
    idf = {gram: log_items - math.log(max(1.0, df)) for gram, df in frequency.items()}
    scores = np.zeros(len(hypotheses))
    for index, (hypothesis, refs) in enumerate(zip(hypotheses, cooked_refs, strict=True)):
        vec, norm, length = _tfidf(_ngrams(hypothesis, _CIDER_N), idf, log_items)
        total = np.zeros(_CIDER_N)
        for ref in refs:
            ref_vec, ref_norm, ref_length = _tfidf(ref, idf, log_items)
            penalty = math.exp(-((length - ref_length) ** 2) / (2 * _CIDER_SIGMA**2))
            for size in range(_CIDER_N):
                other = ref_vec[size]
                value = sum(
                    min(w, other.get(g, 0.0)) * other.get(g, 0.0) for g, w in vec[size].items()
                )
                if norm[size] != 0 and ref_norm[size] != 0:
                    value /= norm[size] * ref_norm[size]
                total[size] += value * penalty
        scores[index] = float(total.mean()) / len(refs) * 10.0
    return float(scores.mean()), scores


def caption_scores(
    hypotheses: Sequence[str] | Sequence[Sequence[str]],
    references: Sequence[Sequence[str]] | Sequence[Sequence[Sequence[str]]],
    *,
    tokenized: bool = False,
) -> CaptionScores:
    """BLEU-1..4, ROUGE-L and CIDEr-D of hypotheses against their references.

    Args:
        hypotheses: One sentence per item (token lists when ``tokenized``).
        references: Per item, one or more reference sentences (token lists when
            ``tokenized``).
        tokenized: The inputs are already token lists; else :func:`tokenize` runs first.

    Returns:
        The corpus and per-item figures.

    Raises:
        InputError: The lists differ in length, are empty, or an item has no reference.
    """
    if not tokenized:
        if isinstance(hypotheses, str) or any(not isinstance(h, str) for h in hypotheses):
            raise InputError(
                "hypotheses must be a list of sentences (or pass tokenized=True).",
                param="hypotheses",
            )
        if isinstance(references, str) or any(
            isinstance(refs, str) or any(not isinstance(r, str) for r in refs)
            for refs in references
        ):
            raise InputError(
                "references must hold a list of sentences per item (or pass tokenized=True).",
                param="references",
            )
        hyp_tokens = [tokenize(h) for h in hypotheses]  # type: ignore[arg-type]
        ref_tokens = [[tokenize(r) for r in refs] for refs in references]  # type: ignore[arg-type]
    else:
        hyp_tokens = [list(h) for h in hypotheses]
        ref_tokens = [[list(r) for r in refs] for refs in references]
    rouge, item_rouge = rouge_l(hyp_tokens, ref_tokens)
    cider, item_cider = cider_d(hyp_tokens, ref_tokens)
    return CaptionScores(
        bleu=bleu(hyp_tokens, ref_tokens, 4),
        rouge_l=rouge,
        cider_d=cider,
        item_rouge_l=item_rouge,
        item_cider_d=item_cider,
    )
