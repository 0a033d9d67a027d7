"""Rule deduction on the AnomalyRuler caption sets, chosen by leave-one-dataset-out.

    .venv/bin/python bench/bench_deduction.py [--root ../shared/data/anomalyruler]
        [--embedder minilm] [--json FILE] [--llm offline --llm-sample 10 --skip-table]

The protocol: every deduction setting (scene prior on or off and its share, margin and
weight; smoothing width; per-video normalisation) is one point of a small grid. For each
of the three sets held out in turn, the setting whose worse AUC on the other two sets is
highest is chosen, and measured on the held-out set; no figure of a set ever picks the
setting it is measured with. The shipped default (``DeductionConfig()``) is one setting
for all three, measured on each (it was chosen by the same rule on all three sets, so
those rows are in-sample; the held-out rows are the honest ones).

Embeddings of distinct clauses are computed once (a caching embedder shared by every
setting), the scene prior once per prior setting, so the whole grid costs one embedding
pass and numpy. Wall time per row is the full deduction of that setting
(``RuleDeducer.deduce``) with the clauses already embedded; the embedding pass is printed
once per dataset.

Each approach tried (kept or dropped) is measured one by one under this same protocol by
``bench/bench_deduction_approaches.py``, which reuses this module's grid and embedder.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlad.config.reasoning import DeductionConfig
from vlad.data.captions import CaptionVideo, load_caption_dataset
from vlad.encoders.text import load_embedder
from vlad.metrics import frame_ap, frame_auc
from vlad.reasoning.deduction import RuleDeducer, RuleMatcher, frame_track
from vlad.reasoning.rules import RuleSet
from vlad.runners.captions import dataset_rules

DATASETS = ("ped2", "avenue", "shanghaitech")

#: The grid: the scene prior's settings (None: no prior) and the track's settings.
Prior = tuple[tuple[str, float], ...]
PRIORS: tuple[Prior | None, ...] = (
    None,
    *(
        (("prior_weight", w), ("prior_max_margin", m), ("prior_min_share", s))
        for w, m, s in itertools.product((0.7, 0.8, 0.9), (0.2, 0.3), (0.005, 0.01))
    ),
)
SMOOTHS = (8.0, 16.0, 32.0)
VIDEO_NORMS = (0.0, 0.25, 0.5)


class CachingEmbedder:
    """Embeds each distinct text once across all runs of this benchmark."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    @property
    def name(self) -> str:
        """The wrapped embedder's name."""
        return str(self.inner.name)

    @property
    def dim(self) -> int:
        """The wrapped embedder's size."""
        return int(self.inner.dim)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings of ``texts``, each distinct text embedded once ever."""
        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            start = time.perf_counter()
            vectors = self.inner.embed(new, batch_size=batch_size)
            self.seconds += time.perf_counter() - start
            for text, vector in zip(new, vectors, strict=True):
                self.cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


@dataclass(frozen=True)
class Setting:
    """One point of the grid."""

    prior: Prior | None
    smooth: float
    video_norm: float

    def config(self) -> DeductionConfig:
        """The :class:`DeductionConfig` of this setting."""
        return DeductionConfig(
            smooth=self.smooth,
            video_norm=self.video_norm,
            scene_prior=self.prior is not None,
            **dict(self.prior or ()),
        )

    def label(self) -> str:
        """Short words for the table."""
        prior = (
            "no prior"
            if self.prior is None
            else "prior w {prior_weight} m {prior_max_margin} s {prior_min_share}".format(
                **dict(self.prior)
            )
        )
        return f"{prior}, smooth {self.smooth:g}, video norm {self.video_norm:g}"


def grid() -> list[Setting]:
    """Every setting the protocol chooses from."""
    return [
        Setting(prior, smooth, norm)
        for prior in PRIORS
        for smooth in SMOOTHS
        for norm in VIDEO_NORMS
    ]


def grid_figures(
    videos: Sequence[CaptionVideo], rules: RuleSet, embedder: CachingEmbedder
) -> dict[Setting, tuple[float, float]]:
    """(AUC, AP) of every grid setting on one dataset, the scene fitted once per prior."""
    labels = [v.labels for v in videos]
    flat = [d for v in videos for d in v.captions]
    bounds = list(itertools.pairwise(np.cumsum([0] + [len(v.captions) for v in videos])))
    out: dict[Setting, tuple[float, float]] = {}
    for prior in PRIORS:
        options = dict(prior or ())
        matcher = RuleMatcher(rules, embedder, scene_prior=prior is not None, **options)  # type: ignore[arg-type]
        matcher.fit_scene(flat)
        raw = matcher.frame_margins(flat).margins
        for smooth, norm in itertools.product(SMOOTHS, VIDEO_NORMS):
            tracks = [frame_track(raw[a:b], video_norm=norm, smooth=smooth) for a, b in bounds]
            out[Setting(prior, smooth, norm)] = (
                frame_auc(labels, tracks),
                frame_ap(labels, tracks),
            )
    return out


def choose(figures: dict[str, dict[Setting, tuple[float, float]]], names: Sequence[str]) -> Setting:
    """The setting whose worst AUC over ``names`` is highest (ties: the better mean)."""

    def key(setting: Setting) -> tuple[float, float]:
        aucs = [figures[n][setting][0] for n in names]
        return (min(aucs), float(np.mean(aucs)))

    return max(grid(), key=key)


def timed_run(
    videos: Sequence[CaptionVideo], rules: RuleSet, embedder: CachingEmbedder, setting: Setting
) -> dict[str, float]:
    """The full deduction of one setting (clauses already embedded): figures and wall time."""
    deducer = RuleDeducer.from_config(rules, setting.config(), embedder=embedder)  # type: ignore[arg-type]
    start = time.perf_counter()
    judged = deducer.deduce([list(v.captions) for v in videos])
    wall = time.perf_counter() - start
    labels = [v.labels for v in videos]
    scores = [np.array([d.score for d in frames]) for frames in judged]
    return {
        "auc": frame_auc(labels, scores),
        "ap": frame_ap(labels, scores),
        "llm_calls_per_frame": deducer.stats.llm_calls_per_frame,
        "wall_s": wall,
    }


def shipped() -> Setting:
    """The grid point of the shipped defaults (``DeductionConfig()``)."""
    config = DeductionConfig()
    prior: Prior | None = (
        (
            ("prior_weight", config.prior_weight),
            ("prior_max_margin", config.prior_max_margin),
            ("prior_min_share", config.prior_min_share),
        )
        if config.scene_prior
        else None
    )
    return Setting(prior, config.smooth, config.video_norm)


def protocol(
    root: Path, embedder: CachingEmbedder, *, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run leave-one-dataset-out over the three sets; return every row of the table."""
    data: dict[str, tuple[list[CaptionVideo], RuleSet]] = {}
    figures: dict[str, dict[Setting, tuple[float, float]]] = {}
    embed_s: dict[str, float] = {}
    for name in DATASETS:
        videos = load_caption_dataset(root, name)
        rules, _ = dataset_rules(root, name, videos)
        data[name] = (videos, rules)
        before = embedder.seconds
        start = time.perf_counter()
        figures[name] = grid_figures(videos, rules, embedder)
        embed_s[name] = embedder.seconds - before
        say(
            f"{name}: {len(grid())} settings in {time.perf_counter() - start:.1f} s "
            f"(embedding {embed_s[name]:.1f} s of it)"
        )
    rows: list[dict[str, Any]] = []
    for held in DATASETS:
        others = [n for n in DATASETS if n != held]
        setting = choose(figures, others)
        run = timed_run(*data[held], embedder, setting)
        rows.append(
            {
                "dataset": held,
                "how": f"held out (chosen on {' + '.join(others)})",
                "setting": setting.label(),
                **run,
            }
        )
    default = shipped()
    best = choose(figures, DATASETS)
    for name in DATASETS:
        run = timed_run(*data[name], embedder, default)
        rows.append({"dataset": name, "how": "shipped default", "setting": default.label(), **run})
    return {
        "embedder": embedder.name,
        "rows": rows,
        "shipped_is_choice_on_all_three": best == default,
        "choice_on_all_three": best.label(),
        "embed_s": embed_s,
    }


def table(result: dict[str, Any]) -> str:
    """The Markdown table of :func:`protocol`'s rows."""
    lines = [
        "| dataset | how chosen | setting | AUC | AP | LLM calls/frame | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['dataset']} | {row['how']} | {row['setting']} | {row['auc']:.3f} | "
            f"{row['ap']:.3f} | {row['llm_calls_per_frame']:.3f} | {row['wall_s']:.1f} |"
        )
    return "\n".join(lines)


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
    """Run the protocol and print the table (and, if asked, the LLM sample rows)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/anomalyruler"))
    parser.add_argument("--embedder", default="minilm", help="text embedder spec")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--llm", default=None, help="also judge sampled frames with this LLM")
    parser.add_argument(
        "--llm-sample",
        type=int,
        default=10,
        metavar="N",
        help="with --llm: N random anomalous and N normal frames per dataset, judged by the "
        "LLM and by retrieval (verdict accuracy and seconds per call)",
    )
    parser.add_argument("--skip-table", action="store_true", help="only the LLM rows")
    args = parser.parse_args()
    embedder = CachingEmbedder(load_embedder(args.embedder))
    if not args.skip_table:
        start = time.perf_counter()
        result = protocol(args.root, embedder)
        result["total_s"] = time.perf_counter() - start
        print(table(result))
        print(
            f"shipped default = the choice on all three sets: "
            f"{result['shipped_is_choice_on_all_three']} ({result['choice_on_all_three']}); "
            f"{result['total_s']:.0f} s in all, embedder {result['embedder']}"
        )
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.llm:
        from vlad.reasoning.cache import AnswerCache
        from vlad.reasoning.registry import CachedBackend, load_backend

        backend = CachedBackend(load_backend(args.llm), AnswerCache())
        for name in DATASETS:
            videos = load_caption_dataset(args.root, name)
            rules, _ = dataset_rules(args.root, name, videos)
            print(sample_rows(videos, rules, name, embedder, backend, args.llm_sample), flush=True)


if __name__ == "__main__":
    main()
