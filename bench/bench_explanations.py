"""Time ``vlad eval explanations`` scoring on the 4,331 UCA test sentences.

Run as ``python bench/bench_explanations.py [--repeat 3] [--minilm] [--meteor]``. The
predictions are the UCA test references with every third word dropped and every span moved
2 s later, scored against the references (``../shared/data/uca``, or
``$VLAD_SHARED_DATA/uca``). It prints the best-of-``repeat`` wall time of
:func:`vlad.runners.explanations.evaluate_explanations` without an embedder (tokenisation,
pairing, BLEU-1..4, ROUGE-L, CIDEr-D, temporal IoU and recall), the share of it per stage,
and PASS or FAIL against the goal (under 10 s); with ``--minilm`` also the time of the
MiniLM cosine, with ``--meteor`` of coco-caption's METEOR (Java), and, when
``pycocoevalcap`` is installed, its own BLEU/ROUGE-L/CIDEr-D time on the same tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from vlad.metrics import bleu, cider_d, rouge_l, tokenize
from vlad.runners.explanations import ExplainedVideo, evaluate_explanations, load_explanations

GOAL_S = 10.0


def uca_test() -> Path:
    """The UCA test file under the shared data folder."""
    root = Path(
        os.environ.get("VLAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    return root / "uca" / "UCFCrime_Test.json"


def perturb(references: dict[str, ExplainedVideo]) -> dict[str, ExplainedVideo]:
    """Every third word dropped, every span 2 s later."""
    return {
        name: ExplainedVideo(
            name,
            tuple(" ".join(w for i, w in enumerate(s.split()) if i % 3 != 2) for s in v.sentences),
            tuple((a + 2.0, b + 2.0) for a, b in v.timestamps or ()),
        )
        for name, v in references.items()
    }


def best(fn, repeat: int) -> tuple[float, object]:
    """Best wall time over ``repeat`` calls and the last value."""
    times = []
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> int:
    """Run the bench; return 0 when the goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--minilm", action="store_true", help="also time the MiniLM cosine")
    parser.add_argument("--meteor", action="store_true", help="also time METEOR (Java)")
    args = parser.parse_args()
    path = uca_test()
    if not path.is_file():
        print(f"UCA test file not found at {path}", file=sys.stderr)
        return 2
    references = load_explanations(path, param="references")
    predictions = perturb(references)
    sentences = sum(len(v.sentences) for v in references.values())
    print(
        f"UCA test: {len(references)} videos, {sentences} sentences; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    elapsed, report = best(lambda: evaluate_explanations(predictions, references), args.repeat)
    figures = report.figures
    shown = ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D", "tIoU", "R@0.3", "R@0.5", "R@0.7")
    print("figures: " + ", ".join(f"{k} {figures[k]:.4f}" for k in shown))
    texts = [s for v in (*predictions.values(), *references.values()) for s in v.sentences]
    t_tok, _ = best(lambda: [tokenize(t) for t in texts], args.repeat)
    hyps = [tokenize(s) for v in predictions.values() for s in v.sentences]
    refs = [[tokenize(s)] for v in references.values() for s in v.sentences]
    stages = {"tokenize (both sides)": t_tok}
    for name, fn in (("BLEU-1..4", bleu), ("ROUGE-L", rouge_l), ("CIDEr-D", cider_d)):
        stages[name], _ = best(lambda fn=fn: fn(hyps, refs), args.repeat)
    for name, seconds in stages.items():
        print(f"  {name:<22} {seconds:6.2f} s")
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError:
        pass
    else:
        gts = {i: [" ".join(r[0])] for i, r in enumerate(refs)}
        res = {i: [" ".join(h)] for i, h in enumerate(hyps)}
        coco, _ = best(
            lambda: (
                Bleu(4).compute_score(gts, res, verbose=0),
                Rouge().compute_score(gts, res),
                Cider().compute_score(gts, res),
            ),
            1,
        )
        print(f"  pycocoevalcap BLEU+ROUGE-L+CIDEr-D on the same tokens: {coco:.2f} s")
    if args.minilm:
        from vlad.encoders.text import load_embedder

        start = time.perf_counter()
        embedder = load_embedder("minilm")
        loaded = time.perf_counter() - start
        with_cosine, _ = best(
            lambda: evaluate_explanations(predictions, references, embedder=embedder), 1
        )
        print(f"with the MiniLM cosine: {with_cosine:.1f} s (model load {loaded:.1f} s more)")
    if args.meteor:
        with_meteor, r = best(
            lambda: evaluate_explanations(predictions, references, with_meteor=True), 1
        )
        print(f"with METEOR: {with_meteor:.1f} s (METEOR {r.figures['METEOR']:.4f})")
    ok = elapsed < GOAL_S
    print(
        f"{'PASS' if ok else 'FAIL'}  scoring {sentences} sentences (no embedder, no METEOR): "
        f"{elapsed:.2f} s (goal < {GOAL_S:g} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
