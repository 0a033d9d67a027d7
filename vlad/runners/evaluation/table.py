"""vlad's evaluation results beside the published figures: read ``results.json``, build, print.

``vlad eval images|videos|captions`` write ``results.json`` (the shared schema: ``vlad_eval``,
``task``, ``benchmark``, ``method``, ``figures.mean`` and ``figures.per_category`` with metric
values as fractions in 0..1). :func:`load_results` reads one; :func:`build_tables` puts the
figures of several runs beside the anchors (:mod:`vlad.runners.evaluation.anchors`) of the
same benchmark, marking each row as measured (computed by vlad from a results file) or quoted
(copied from a paper); :func:`render_markdown` and :func:`tables_json` print them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vlad.errors import InputError
from vlad.runners.evaluation.anchors import METRICS, Anchor

RESULTS_NAME = "results.json"
RESULTS_VERSION = 1
TASKS: tuple[str, ...] = ("images", "videos", "captions")

LABELS: dict[str, str] = {
    "image_auroc": "image AUROC",
    "image_ap": "image AP",
    "image_f1_max": "image F1-max",
    "pixel_auroc": "pixel AUROC",
    "pixel_aupro": "pixel AUPRO",
    "pixel_f1_max": "pixel F1-max",
    "frame_auc": "frame AUC",
    "frame_ap": "frame AP",
    "frame_auc_per_video_mean": "frame AUC, per-video mean",
}
"""Column headings of the metrics."""

CAPTION_POOLING = (
    "frame AUC and AP over the frames of all videos pooled together, as AnomalyRuler reports them."
)

Kind = Literal["measured", "quoted"]


@dataclass(frozen=True)
class Results:
    """One run's figures, as read from its ``results.json``.

    Attributes:
        path: The file.
        task: ``images``, ``videos`` or ``captions``.
        benchmark: The benchmark's name, or None when the run named none.
        method: The scorer (``winclip``, ``rules``, ``keywords`` ...).
        mean: Metric -> value in 0..1, over the whole benchmark.
        per_category: Category -> metric -> value in 0..1.
        pooling: How frame figures were pooled (one sentence), "" when not said.
    """

    path: Path
    task: str
    benchmark: str | None
    method: str
    mean: dict[str, float]
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    pooling: str = ""


@dataclass(frozen=True)
class Row:
    """One row of a table: a vlad run or a paper.

    Attributes:
        who: ``vlad TASK METHOD`` or the paper.
        method: The method.
        kind: ``measured`` (vlad computed it) or ``quoted`` (copied from the paper).
        source: The results file, or the paper's table and version.
        figures: Metric -> value in percent.
        category: The category, None for the benchmark's mean.
    """

    who: str
    method: str
    kind: Kind
    source: str
    figures: dict[str, float]
    category: str | None = None


@dataclass(frozen=True)
class Table:
    """vlad's rows and the papers' rows for one benchmark.

    Attributes:
        benchmark: The benchmark's name ("" when the results named none).
        title: Its own name (``MVTec AD``).
        metrics: The columns, in :data:`METRICS` order.
        rows: Mean rows: measured first, then quoted.
        category_rows: Per-category rows, by category then measured before quoted.
        notes: Sentences printed under the table (pooling, missing anchors).
    """

    benchmark: str
    title: str
    metrics: list[str]
    rows: list[Row]
    category_rows: list[Row]
    notes: list[str]


def results_file(path: str | Path) -> Path:
    """The ``results.json`` a path names: the file itself or the one inside a folder.

    Raises:
        InputError: The path does not exist, or the folder holds no ``results.json``
            (one sentence).
    """
    path = Path(path)
    if path.is_dir():
        inside = path / RESULTS_NAME
        if not inside.is_file():
            raise InputError(
                f"Folder '{path}' holds no {RESULTS_NAME}; give the output folder of a "
                "vlad eval images, videos or captions run."
            )
        return inside
    if not path.exists():
        raise InputError(
            f"Results '{path}' does not exist; give a {RESULTS_NAME} written by vlad eval or "
            "its folder."
        )
    return path


def load_results(path: str | Path) -> Results:
    """Read one run's ``results.json`` (or the one in a folder).

    Args:
        path: The file or its folder.

    Returns:
        The run's figures.

    Raises:
        InputError: Missing, not JSON, not a vlad evaluation result, or a figure that is not
            a fraction in 0..1 (one sentence naming the file).
    """
    path = results_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(
            f"Results '{path}' is not JSON; give a {RESULTS_NAME} written by vlad eval."
        ) from None
    if not isinstance(data, dict) or data.get("vlad_eval") != RESULTS_VERSION:
        raise InputError(
            f"Results '{path}' is not a vlad evaluation result (no \"vlad_eval\": "
            f"{RESULTS_VERSION}); give a {RESULTS_NAME} written by vlad eval."
        )
    task = data.get("task")
    if task not in TASKS:
        raise InputError(
            f"Results '{path}' has task {task!r}; vlad eval table reads {', '.join(TASKS)}."
        )
    figures = data.get("figures")
    if not isinstance(figures, dict) or not isinstance(figures.get("mean"), dict):
        raise InputError(f"Results '{path}' has no figures.mean; rerun the evaluation to write it.")
    per_category = figures.get("per_category") or {}
    if not isinstance(per_category, dict):
        raise InputError(f"Results '{path}': figures.per_category must be a mapping.")
    benchmark = data.get("benchmark")
    return Results(
        path=path,
        task=task,
        benchmark=str(benchmark) if benchmark else None,
        method=str(data.get("method") or "?"),
        mean=_fractions(figures["mean"], path=path, where="figures.mean"),
        per_category={
            str(c): _fractions(v, path=path, where=f"figures.per_category.{c}")
            for c, v in per_category.items()
        },
        pooling=str(data.get("pooling") or ""),
    )


def _fractions(values: Any, *, path: Path, where: str) -> dict[str, float]:
    """The known metrics of a figures mapping, each checked to be a fraction (None: absent)."""
    if not isinstance(values, dict):
        raise InputError(f"Results '{path}': {where} must be a mapping.")
    out: dict[str, float] = {}
    for metric in METRICS:
        value = values.get(metric)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise InputError(
                f"Results '{path}': {where}.{metric} is {value!r}, not a fraction in 0..1; "
                "vlad writes fractions, never percent."
            )
        out[metric] = float(value)
    return out


def build_tables(
    results: Sequence[Results],
    anchors: Sequence[Anchor],
    *,
    benchmark: str | None = None,
) -> list[Table]:
    """One table per benchmark the results cover, with the anchors of that benchmark.

    Args:
        results: The runs, in the order their rows are printed.
        anchors: The published figures (all benchmarks; the matching ones are used).
        benchmark: The benchmark of runs whose results name none (``vlad eval run`` passes
            its config's); None leaves them under "".

    Returns:
        The tables, in the order the benchmarks first appear in ``results``.
    """
    order: list[str] = []
    runs: dict[str, list[Results]] = {}
    for run in results:
        name = run.benchmark or benchmark or ""
        if name not in runs:
            order.append(name)
            runs[name] = []
        runs[name].append(run)
    return [_table(name, runs[name], [a for a in anchors if a.benchmark == name]) for name in order]


def _table(name: str, runs: list[Results], anchors: list[Anchor]) -> Table:
    rows = [_measured(run, run.mean, None) for run in runs]
    papers: dict[str, list[Anchor]] = {}
    for anchor in anchors:
        papers.setdefault(anchor.paper, []).append(anchor)
    quoted_means: list[Row] = []
    quoted_categories: dict[str, list[Row]] = {}
    for paper, figures in papers.items():
        means = [a for a in figures if a.category is None]
        if means:
            quoted_means.append(_quoted(paper, means, None))
        categories: dict[str, list[Anchor]] = {}
        for a in figures:
            if a.category is not None:
                categories.setdefault(a.category, []).append(a)
        for category, items in categories.items():
            quoted_categories.setdefault(category, []).append(_quoted(paper, items, category))
    rows += quoted_means
    measured_categories: dict[str, list[Row]] = {}
    for run in runs:
        for category, values in run.per_category.items():
            measured_categories.setdefault(category, []).append(_measured(run, values, category))
    category_rows: list[Row] = []
    for category in sorted(set(measured_categories) | set(quoted_categories)):
        category_rows += measured_categories.get(category, []) + quoted_categories.get(category, [])
    used = {m for row in rows + category_rows for m in row.figures}
    metrics = [m for m in METRICS if m in used]
    notes = [f"{_who(run)}: {run.pooling}" for run in runs if run.pooling]
    if not anchors:
        notes.append(
            f"No published figures for {name or 'runs that name no benchmark'} in the anchors file."
        )
    return Table(
        benchmark=name,
        title=_title(name),
        metrics=metrics,
        rows=rows,
        category_rows=category_rows,
        notes=notes,
    )


def _who(run: Results) -> str:
    return f"vlad {run.task} {run.method}"


def _measured(run: Results, values: Mapping[str, float], category: str | None) -> Row:
    return Row(
        who=_who(run),
        method=run.method,
        kind="measured",
        source=str(run.path),
        figures={m: round(100.0 * v, 6) for m, v in values.items()},
        category=category,
    )


def _quoted(paper: str, anchors: list[Anchor], category: str | None) -> Row:
    sources = list(dict.fromkeys(a.source for a in anchors))
    return Row(
        who=paper,
        method=anchors[0].method,
        kind="quoted",
        source="; ".join(sources),
        figures={a.metric: a.value for a in anchors},
        category=category,
    )


def _title(name: str) -> str:
    """The benchmark's own name from the registry, else the name itself."""
    from vlad.data.registry import BENCHMARKS as REGISTRY

    return REGISTRY[name].title if name in REGISTRY else name


def _number(row: Row, metric: str) -> str:
    value = row.figures.get(metric)
    if value is None:
        return "–"
    if row.kind == "measured":
        return f"{value:.1f}"
    return f"{value:.1f}" if round(value, 1) == value else f"{value:.2f}"


def _markdown_rows(rows: Sequence[Row], metrics: Sequence[str], *, category: bool) -> list[str]:
    head = (["category"] if category else []) + ["", "kind"] + [LABELS[m] for m in metrics]
    head.append("source")
    align = (["---"] if category else []) + ["---", "---"] + ["---:"] * len(metrics) + ["---"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = ([row.category or ""] if category else []) + [row.who, row.kind]
        cells += [_number(row, m) for m in metrics]
        cells.append(row.source)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(tables: Sequence[Table]) -> str:
    """The tables as Markdown, one section per benchmark.

    Each section has the mean rows (vlad's measured rows first, then the papers' quoted
    rows), then the per-category rows when any run or paper has them, then its notes.
    Figures are in percent with one decimal (quoted ones as the paper prints them); "–"
    marks a figure a row does not have.

    Args:
        tables: From :func:`build_tables`.

    Returns:
        The Markdown text, ending in a newline.
    """
    lines: list[str] = []
    for table in tables:
        heading = table.benchmark or "(no benchmark named)"
        if table.title != table.benchmark:
            heading += f": {table.title}"
        lines += [f"## {heading}", ""]
        lines += _markdown_rows(table.rows, table.metrics, category=False)
        if table.category_rows:
            lines += ["", f"### {table.benchmark or 'runs'} per category", ""]
            lines += _markdown_rows(table.category_rows, table.metrics, category=True)
        lines.append("")
        lines += [f"- {note}" for note in table.notes]
        if table.notes:
            lines.append("")
    lines.append(
        "Figures in percent. measured: computed by vlad, from the results file named; quoted: "
        "copied from the paper's table named (eval/anchors.yaml), not rerun here."
    )
    return "\n".join(lines) + "\n"


def tables_json(tables: Sequence[Table]) -> dict[str, Any]:
    """The tables as plain data (figures in percent), for ``--json``."""

    def row(r: Row) -> dict[str, Any]:
        return {
            "who": r.who,
            "method": r.method,
            "kind": r.kind,
            "category": r.category,
            "source": r.source,
            "figures": dict(r.figures),
        }

    return {
        "unit": "percent",
        "benchmarks": [
            {
                "benchmark": t.benchmark or None,
                "title": t.title,
                "metrics": list(t.metrics),
                "rows": [row(r) for r in t.rows],
                "per_category": [row(r) for r in t.category_rows],
                "notes": list(t.notes),
            }
            for t in tables
        ],
    }


def caption_results(
    figures: Mapping[str, Any],
    *,
    dataset: str,
    settings: Mapping[str, Any],
    started: str,
    finished: str | None = None,
) -> dict[str, Any]:
    """The ``results.json`` record of a caption evaluation (task ``captions``).

    Args:
        figures: What :func:`vlad.runners.captions.evaluate_captions` returned (``auc``,
            ``ap``, ``method``, ``videos``, ``skipped_videos`` ...).
        dataset: The caption dataset's name (``ped2``, ``avenue``, ``shanghaitech``),
            recorded as the benchmark.
        settings: The run's resolved settings.
        started: When the run started, UTC ISO 8601.
        finished: When it finished (default: now).

    Returns:
        The record, in the schema ``vlad eval images|videos`` write.
    """
    from vlad.utils.runinfo import package_versions, plain, utc_now

    mean = {
        metric: float(figures[key])
        for metric, key in (("frame_auc", "auc"), ("frame_ap", "ap"))
        if figures.get(key) is not None and math.isfinite(float(figures[key]))
    }
    videos = int(figures.get("videos", 0))
    skipped = int(figures.get("skipped_videos", 0))
    return {
        "vlad_eval": RESULTS_VERSION,
        "task": "captions",
        "benchmark": dataset,
        "method": str(figures.get("method", "")),
        "settings": plain(dict(settings)),
        "versions": package_versions(),
        "started": started,
        "finished": finished or utc_now(),
        "inputs": videos + skipped,
        "scored": videos,
        "failed": skipped,
        "frames": int(figures.get("frames", 0)),
        "pooling": CAPTION_POOLING,
        "figures": {"mean": mean, "per_category": {}},
    }


def write_caption_results(
    path: str | Path,
    figures: Mapping[str, Any],
    *,
    dataset: str,
    settings: Mapping[str, Any],
    started: str,
) -> Path:
    """Write :func:`caption_results` to ``path`` atomically.

    Returns:
        The file written.
    """
    from vlad.utils.io import atomic_write_text

    record = caption_results(figures, dataset=dataset, settings=settings, started=started)
    return atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
