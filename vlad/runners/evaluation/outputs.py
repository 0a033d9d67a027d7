"""The files an image or video evaluation writes beside its ``results/`` folder.

``results.json`` (the figures, settings and versions, in the schema ``vlad eval table``
reads), ``results.md`` (the table, in percent as the papers print it), ``inputs.csv`` (one
row per input), ``roc.png`` and ``pr.png`` (the curves). Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlad.utils.io import atomic_write_bytes, atomic_write_text
from vlad.utils.runinfo import package_versions, utc_now

__all__ = [
    "RESULTS_VERSION",
    "Curve",
    "EvalResults",
    "write_outputs",
]

RESULTS_VERSION = 1
"""The ``vlad_eval`` number of the ``results.json`` schema."""

MAX_CURVE_POINTS = 2000
"""Most points drawn per curve (long frame curves are thinned evenly)."""

#: Column titles of results.md, in order, for the metric keys of results.json.
METRIC_TITLES: dict[str, str] = {
    "image_auroc": "image AUROC",
    "image_ap": "image AP",
    "image_f1_max": "image F1-max",
    "pixel_auroc": "pixel AUROC",
    "pixel_aupro": "pixel AUPRO",
    "frame_auc": "frame AUC",
    "frame_ap": "frame AP",
    "frame_auc_per_video_mean": "frame AUC (per-video mean)",
}


@dataclass(frozen=True)
class Curve:
    """The labels and scores of one ROC/PR curve and its name in the legend."""

    name: str
    labels: np.ndarray
    scores: np.ndarray


@dataclass
class EvalResults:
    """Everything an evaluation writes.

    Attributes:
        task: ``images`` or ``videos``.
        inputs: Manifest rows evaluated (bad lines included).
        scored: Inputs with a result.
        failed: Inputs without one.
        pooling: One sentence: how the figures are pooled.
        benchmark: The manifest's benchmark (its records' ``source``), or None; set by
            the run, like ``method``, ``settings`` and ``started``.
        method: The scorer (``winclip``, ``anomalyclip``, ``definitions``, ``rules``...).
        settings: The settings that decide the figures.
        versions: Library versions (those installed when the figures were computed).
        started: UTC ISO time the run started.
        finished: UTC ISO time the figures were computed (when this record is made).
        mean: Metric -> value (fraction) over the whole set.
        per_category: Category -> metric -> value.
        rows: One ``inputs.csv`` row per input.
        curves: The curves drawn in ``roc.png`` and ``pr.png``.
        notes: Sentences for ``results.md`` (figures left out and why).
    """

    task: str
    inputs: int
    scored: int
    failed: int
    pooling: str
    benchmark: str | None = None
    method: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=package_versions)
    started: str = ""
    finished: str = field(default_factory=utc_now)
    mean: dict[str, float] = field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` object (the schema every reader of results expects)."""
        return {
            "vlad_eval": RESULTS_VERSION,
            "task": self.task,
            "benchmark": self.benchmark,
            "method": self.method,
            "settings": self.settings,
            "versions": self.versions,
            "started": self.started,
            "finished": self.finished,
            "inputs": self.inputs,
            "scored": self.scored,
            "failed": self.failed,
            "pooling": self.pooling,
            "figures": {"mean": self.mean, "per_category": self.per_category},
        }

    def headline(self) -> dict[str, Any]:
        """What ``--json`` prints: task, benchmark, method and the figures."""
        return {
            "task": self.task,
            "benchmark": self.benchmark,
            "method": self.method,
            "figures": {"mean": self.mean, "per_category": self.per_category},
        }


def write_outputs(out: str | Path, results: EvalResults) -> list[Path]:
    """Write results.json, results.md, inputs.csv, roc.png and pr.png into ``out``.

    Args:
        out: The evaluation folder.
        results: The figures and rows.

    Returns:
        The files written (the PNGs only when some curve has both classes).
    """
    folder = Path(out)
    text = json.dumps(_finite(results.to_json()), indent=1, ensure_ascii=False, allow_nan=False)
    written = [
        atomic_write_text(folder / "results.json", text + "\n"),
        atomic_write_text(folder / "results.md", results_table(results)),
        atomic_write_text(folder / "inputs.csv", _csv(results.rows)),
    ]
    curves = [c for c in results.curves if _both_classes(c.labels)]
    if curves:
        written.extend(_plots(folder, curves, results))
    return written


def results_table(results: EvalResults) -> str:
    """``results.md``: one row per category and the mean, in percent with one decimal."""
    metrics = [k for k in METRIC_TITLES if k in results.mean]
    metrics += sorted({k for v in results.per_category.values() for k in v} - set(metrics))
    title = results.benchmark or "manifest"
    lines = [
        f"# vlad eval {results.task}: {title}, {results.method}",
        "",
        f"{results.scored} of {results.inputs} inputs scored, {results.failed} failed. "
        "Figures in percent.",
        "",
        "| category | " + " | ".join(METRIC_TITLES.get(k, k) for k in metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for category, values in results.per_category.items():
        lines.append(
            f"| {category or '-'} | " + " | ".join(_pct(values.get(k)) for k in metrics) + " |"
        )
    mean_name = "all frames" if results.task == "videos" else "mean"
    lines.append(
        f"| **{mean_name}** | "
        + " | ".join(f"**{_pct(results.mean.get(k))}**" for k in metrics)
        + " |"
    )
    lines += ["", f"Pooling: {results.pooling}"]
    if results.notes:
        lines += ["", *[f"- {note}" for note in results.notes]]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    stream = io.StringIO()
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    writer = csv.DictWriter(stream, fieldnames=columns or ["id"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return stream.getvalue()


def _both_classes(labels: np.ndarray) -> bool:
    return bool(labels.size) and 0 < int(np.count_nonzero(labels)) < labels.size


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_CURVE_POINTS:
        return x, y
    picks = np.unique(np.linspace(0, len(x) - 1, MAX_CURVE_POINTS).round().astype(np.int64))
    return x[picks], y[picks]


def _plots(folder: Path, curves: Sequence[Curve], results: EvalResults) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from vlad.metrics import auroc, average_precision, pr_curve, roc_curve

    level = "frame" if results.task == "videos" else "image"
    title = f"{results.benchmark or 'manifest'}, {results.method}"
    written = []
    for kind in ("roc", "pr"):
        figure = Figure(figsize=(6, 5), dpi=100)
        axes = figure.add_subplot()
        for curve in curves:
            if kind == "roc":
                x, y, _ = roc_curve(curve.labels, curve.scores)
                value = auroc(curve.labels, curve.scores)
                label = f"{curve.name} (AUC {100 * value:.1f})"
            else:
                x, y, _ = pr_curve(curve.labels, curve.scores)
                value = average_precision(curve.labels, curve.scores)
                label = f"{curve.name} (AP {100 * value:.1f})"
            x, y = _thin(x, y)
            axes.plot(
                x,
                y,
                linewidth=1.2,
                label=label,
                drawstyle="default" if kind == "roc" else "steps-post",
            )
        if kind == "roc":
            axes.plot([0, 1], [0, 1], color="0.7", linewidth=0.8, linestyle="--")
            axes.set_xlabel("false positive rate")
            axes.set_ylabel("true positive rate")
            axes.set_title(f"{level} ROC: {title}")
        else:
            axes.set_xlabel("recall")
            axes.set_ylabel("precision")
            axes.set_title(f"{level} precision-recall: {title}")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.legend(
            fontsize=7 if len(curves) > 6 else 9,
            loc="lower right" if kind == "roc" else "lower left",
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        written.append(atomic_write_bytes(folder / f"{kind}.png", buffer.getvalue()))
    return written


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if np.isfinite(number) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
