"""Published figures (anchors) that vlad's evaluation results are printed beside.

The anchors live in ``eval/anchors.yaml``: one row per figure a paper prints, with the paper,
its method, the benchmark (vlad's registry name), the metric (the keys of vlad's
``results.json``), the value in percent as the paper prints it, the table and version it comes
from and a note of what was read to verify it. :func:`load_anchors` reads and checks the file;
every malformed row stops with one sentence naming the file, the row and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlad.data.registry import BENCHMARKS as BENCHMARK_REGISTRY
from vlad.errors import ConfigError

ANCHORS_VERSION = 1
"""The ``vlad_anchors`` version this module reads."""

BENCHMARKS: tuple[str, ...] = tuple(name for name in BENCHMARK_REGISTRY if name != "anomalyruler")
"""The benchmarks an anchor may name: those ``vlad data prepare`` reads, less the caption
sets (their rows name the video benchmark they caption)."""

IMAGE_METRICS: tuple[str, ...] = (
    "image_auroc",
    "image_ap",
    "image_f1_max",
    "pixel_auroc",
    "pixel_aupro",
    "pixel_f1_max",
)
"""Image-benchmark metrics, in table order (``pixel_f1_max`` is quoted, not measured)."""

VIDEO_METRICS: tuple[str, ...] = ("frame_auc", "frame_ap", "frame_auc_per_video_mean")
"""Video-benchmark metrics (frame level), in table order."""

METRICS: tuple[str, ...] = IMAGE_METRICS + VIDEO_METRICS
"""Every metric key an anchor or a results file may carry, in table order."""

REQUIRED: tuple[str, ...] = ("paper", "method", "benchmark", "metric", "value", "source", "checked")
OPTIONAL: tuple[str, ...] = ("category", "setting", "note")


@dataclass(frozen=True)
class Anchor:
    """One published figure.

    Attributes:
        paper: The paper (authors, venue).
        method: The paper's method, lower case (``anomalyclip``, ``winclip`` ...).
        benchmark: The benchmark's registry name (``mvtec``, ``ucf_crime`` ...).
        metric: One of :data:`METRICS`.
        value: The figure in percent, as the paper prints it.
        source: Where in the paper: table and version (arXiv version or venue).
        checked: What was read to verify the figure.
        category: The benchmark category the figure is for; None for the paper's mean.
        setting: The protocol (``zero-shot`` ...).
        note: Anything a reader needs to compare fairly.
    """

    paper: str
    method: str
    benchmark: str
    metric: str
    value: float
    source: str
    checked: str
    category: str | None = None
    setting: str = ""
    note: str = ""


def default_anchors_path() -> Path:
    """``eval/anchors.yaml`` of the vlad source tree this module belongs to."""
    return Path(__file__).resolve().parents[3] / "eval" / "anchors.yaml"


def load_anchors(path: str | Path | None = None) -> list[Anchor]:
    """Read and check a file of published figures.

    Args:
        path: The YAML file (default: :func:`default_anchors_path`).

    Returns:
        The anchors in file order.

    Raises:
        ConfigError: The file is missing or not YAML, or a row is malformed (one sentence
            naming the file, the row and what to fix).
    """
    path = Path(path) if path is not None else default_anchors_path()
    if not path.is_file():
        raise ConfigError(
            f"Anchors file '{path}' does not exist; give the path of the "
            "eval/anchors.yaml of a vlad checkout."
        )
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"Anchors file '{path}' is not valid YAML; fix it.") from None
    return parse_anchors(data, where=str(path))


def parse_anchors(data: Any, *, where: str = "anchors") -> list[Anchor]:
    """Check the content of an anchors file and return its rows.

    Args:
        data: The parsed YAML (a mapping with ``vlad_anchors: 1`` and ``anchors: [...]``;
            other top-level keys must start with ``x-``: templates merged into rows).
        where: The file's name, for messages.

    Returns:
        The anchors in order.

    Raises:
        ConfigError: One sentence naming the file, the row and what to fix.
    """
    if not isinstance(data, Mapping) or "anchors" not in data:
        raise ConfigError(
            f"Anchors file '{where}' must be a mapping with an 'anchors' list; see "
            "eval/anchors.yaml."
        )
    version = data.get("vlad_anchors")
    if version != ANCHORS_VERSION:
        raise ConfigError(
            f"Anchors file '{where}' must say 'vlad_anchors: {ANCHORS_VERSION}', got "
            f"{version!r}; this vlad reads version {ANCHORS_VERSION}."
        )
    extra = [
        k for k in data if k not in ("vlad_anchors", "anchors") and not str(k).startswith("x-")
    ]
    if extra:
        raise ConfigError(
            f"Anchors file '{where}' has unknown top-level key '{extra[0]}'; keep "
            "'vlad_anchors', 'anchors' and 'x-...' templates."
        )
    rows = data["anchors"]
    if not isinstance(rows, list):
        raise ConfigError(f"'anchors' in '{where}' must be a list of rows.")
    anchors = [_anchor(row, where=where, index=i + 1) for i, row in enumerate(rows)]
    seen: dict[tuple[str, str, str, str | None], int] = {}
    for i, a in enumerate(anchors, start=1):
        key = (a.paper, a.benchmark, a.metric, a.category)
        if key in seen:
            raise ConfigError(
                f"Row {i} of '{where}' repeats row {seen[key]} ({a.paper}, {a.benchmark}, "
                f"{a.metric}); keep one."
            )
        seen[key] = i
    return anchors


def _anchor(row: Any, *, where: str, index: int) -> Anchor:
    """One checked row."""
    at = f"Row {index} of '{where}'"
    if not isinstance(row, Mapping):
        raise ConfigError(f"{at} must be a mapping of fields.")
    unknown = [k for k in row if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise ConfigError(
            f"{at} has unknown field '{unknown[0]}'; use {', '.join(REQUIRED + OPTIONAL)}."
        )
    missing = [k for k in REQUIRED if row.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{at} has no '{missing[0]}'; every figure needs {', '.join(REQUIRED)}.")
    for key in REQUIRED + OPTIONAL:
        if key != "value" and row.get(key) is not None and not isinstance(row[key], str):
            raise ConfigError(f"{at}: '{key}' must be text.")
    if row["benchmark"] not in BENCHMARKS:
        raise ConfigError(
            f"{at} names unknown benchmark '{row['benchmark']}'; use one of "
            f"{', '.join(BENCHMARKS)}."
        )
    if row["metric"] not in METRICS:
        raise ConfigError(
            f"{at} names unknown metric '{row['metric']}'; use one of {', '.join(METRICS)}."
        )
    value = row["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{at}: 'value' must be a number in percent, got {value!r}.")
    if not 0 <= value <= 100:
        raise ConfigError(
            f"{at}: 'value' {value} is not a percentage in 0..100; write it as the paper prints it."
        )
    return Anchor(
        paper=row["paper"],
        method=row["method"],
        benchmark=row["benchmark"],
        metric=row["metric"],
        value=float(value),
        source=row["source"],
        checked=row["checked"],
        category=row.get("category") or None,
        setting=row.get("setting") or "",
        note=row.get("note") or "",
    )
