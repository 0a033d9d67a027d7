"""Rule deduction on the AnomalyRuler caption sets: every method's AUC and cost, and how
the retrieval method's settings move it (one run, same machine, same embedder).

    .venv/bin/python bench/bench_deduction.py [--root ../shared/data/anomalyruler]
        [--llm offline --llm-videos 2]

Prints one table row per (dataset, method/setting). The LLM methods are slow on CPU with
the offline SmolLM2 (seconds per call), so they run on the first --llm-videos videos only
and the row says so.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vlad.data.captions import load_caption_dataset
from vlad.encoders.text import load_embedder
from vlad.metrics import frame_ap, frame_auc
from vlad.reasoning.deduction import RuleDeducer
from vlad.runners.captions import dataset_rules


class CachingEmbedder:
    """Embeds each distinct text once across all runs of this benchmark."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self.inner.name  # type: ignore[attr-defined]

    @property
    def dim(self) -> int:
        return self.inner.dim  # type: ignore[attr-defined]

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            for text, vector in zip(new, self.inner.embed(new, batch_size=batch_size), strict=True):  # type: ignore[attr-defined]
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


def run(videos, rules, label: str, **options: object) -> str:  # type: ignore[no-untyped-def]
    deducer = RuleDeducer(rules, **options)  # type: ignore[arg-type]
    start = time.perf_counter()
    out = deducer.deduce([list(v.captions) for v in videos])
    wall = time.perf_counter() - start
    labels = [v.labels for v in videos]
    scores = [np.array([d.score for d in f]) for f in out]
    stats = deducer.stats
    return (
        f"| {label} | {len(videos)} | {frame_auc(labels, scores):.3f} | "
        f"{frame_ap(labels, scores):.3f} | {stats.llm_calls_per_frame:.3f} | "
        f"{stats.llm_tokens / max(stats.frames, 1):.2f} | {wall:.1f} |"
    )


def sample_rows(videos, rules, name, embedder, backend, count: int) -> str:  # type: ignore[no-untyped-def]
    """Verdict accuracy of the LLM and of retrieval on the same sampled frames."""
    from vlad.reasoning.deduction import DeductionStats, RuleJudge

    retrieval = RuleDeducer(rules, embedder=embedder).deduce([list(v.captions) for v in videos])
    frames = [(v, i) for v in videos for i in range(len(v.captions))]
    rng = np.random.default_rng(0)
    picked = []
    for label in (1, 0):
        pool = [k for k, (v, i) in enumerate(frames) if v.labels[i] == label]
        picked += [(k, label) for k in rng.choice(pool, size=count, replace=False)]
    where = {id(v): n for n, v in enumerate(videos)}
    captions = [frames[k][0].captions[frames[k][1]] for k, _ in picked]
    stats = DeductionStats(frames=len(picked))
    start = time.perf_counter()
    judged = RuleJudge(rules, backend).judge(captions, stats)
    wall = time.perf_counter() - start
    llm_right = sum(
        (j.verdict == "anomalous") == bool(y) for j, (_, y) in zip(judged, picked, strict=True)
    )
    retrieval_right = sum(
        (retrieval[where[id(frames[k][0])]][frames[k][1]].verdict == "anomalous") == bool(y)
        for k, y in picked
    )
    return (
        f"| {name} / {count}+{count} sampled frames | LLM verdicts right {llm_right}/{2 * count} "
        f"({stats.parse_failures} unparsed) | retrieval verdicts right {retrieval_right}/"
        f"{2 * count} | {stats.llm_calls} calls | {wall / max(stats.llm_calls, 1):.1f} s per call |"
    )


def main() -> None:
    """Run the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/anomalyruler"))
    parser.add_argument("--datasets", nargs="+", default=["ped2", "avenue"])
    parser.add_argument("--llm", default=None, help="also run hybrid and llm with this model")
    parser.add_argument("--llm-videos", type=int, default=2)
    parser.add_argument(
        "--llm-sample",
        type=int,
        default=0,
        metavar="N",
        help="instead of whole videos: N random anomalous and N normal frames per dataset, "
        "judged by the LLM and by retrieval (verdict accuracy and seconds per call)",
    )
    parser.add_argument("--skip-table", action="store_true", help="only the LLM rows")
    args = parser.parse_args()
    embedder = CachingEmbedder(load_embedder("minilm"))
    backend = None
    if args.llm:
        from vlad.reasoning.cache import AnswerCache
        from vlad.reasoning.registry import CachedBackend, load_backend

        backend = CachedBackend(load_backend(args.llm), AnswerCache())
    print(
        "| dataset / method (setting) | videos | AUC | AP | LLM calls/frame | tokens/frame |",
        end="",
    )
    print(" wall s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.datasets:
        videos = load_caption_dataset(args.root, name)
        rules, _ = dataset_rules(args.root, name, videos)
        rows = [
            ("keywords", {"method": "keywords"}),
            ("keywords, no smoothing", {"method": "keywords", "smooth": 0}),
            ("retrieval (default)", {"embedder": embedder}),
            ("retrieval, no scene prior", {"embedder": embedder, "scene_prior": False}),
            ("retrieval, no smoothing", {"embedder": embedder, "smooth": 0}),
            ("retrieval, smooth 8", {"embedder": embedder, "smooth": 8}),
            ("retrieval, smooth 32", {"embedder": embedder, "smooth": 32}),
        ]
        for weight in (0.7, 0.9, 1.0):
            rows.append(
                (
                    f"retrieval, prior weight {weight}",
                    {"embedder": embedder, "matcher_options": {"prior_weight": weight}},
                )
            )
        for margin in (0.2, 0.4):
            rows.append(
                (
                    f"retrieval, prior max margin {margin}",
                    {"embedder": embedder, "matcher_options": {"prior_max_margin": margin}},
                )
            )
        for share in (0.002, 0.01):
            rows.append(
                (
                    f"retrieval, prior min share {share}",
                    {"embedder": embedder, "matcher_options": {"prior_min_share": share}},
                )
            )
        if not args.skip_table:
            for label, options in rows:
                print(run(videos, rules, f"{name} / {label}", **options), flush=True)
        if backend is not None and args.llm_sample:
            print(sample_rows(videos, rules, name, embedder, backend, args.llm_sample), flush=True)
        elif backend is not None:
            subset = videos[: args.llm_videos]
            print(
                run(
                    subset,
                    rules,
                    f"{name} / retrieval (same videos as LLM rows)",
                    embedder=embedder,
                ),
                flush=True,
            )
            print(
                run(
                    subset,
                    rules,
                    f"{name} / hybrid ({backend.name})",
                    embedder=embedder,
                    method="hybrid",
                    backend=backend,
                ),
                flush=True,
            )
            print(
                run(subset, rules, f"{name} / llm ({backend.name})", method="llm", backend=backend),
                flush=True,
            )


if __name__ == "__main__":
    main()
