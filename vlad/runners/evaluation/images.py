"""``vlad eval images``: image AUROC, AP, F1-max, pixel AUROC and AUPRO per category.

Every test image of a manifest (MVTec AD, VisA, or any manifest of labelled images) goes
through the one pipeline (:func:`~vlad.runners.evaluation.scoring.score_inputs`: the batch
runner's path, resumable per image). Each image's anomaly map is kept at
``map_size x map_size`` (bilinear, float16, ``results/<id>/map.npy``) with its mask at the
same size (nearest neighbour, ``results/<id>/mask.png``); the figures are computed from
these kept files, per category, and averaged over the categories, as the MVTec AD and VisA
papers report them. The class name of each image is its manifest category (``metal_nut``
-> ``metal nut``, ``pcb1`` -> ``pcb``) unless one is given for all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import ConfigError, InputError
from vlad.metrics import auroc, average_precision, f1_max, pixel_metrics
from vlad.runners.batch.local import BatchOptions
from vlad.runners.batch.store import ResultStore
from vlad.runners.evaluation.outputs import Curve, EvalResults, write_outputs
from vlad.runners.evaluation.scoring import (
    EvalInput,
    ScoreRun,
    pipeline_settings,
    read_rows,
    score_inputs,
)
from vlad.utils.runinfo import utc_now

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation
    from vlad.config import PipelineConfig
    from vlad.encoders.clip import ClipEncoder

__all__ = [
    "DEFAULT_MAP_SIZE",
    "IMAGE_POOLING",
    "EvalRun",
    "class_name_of",
    "evaluate_images",
    "image_figures",
    "load_kept",
]

DEFAULT_MAP_SIZE = 256
"""Side of the kept maps and masks, in pixels (the size anomalib and most papers use)."""

IMAGE_POOLING = (
    "Image figures are computed per category over its test images, pixel figures over "
    "every pixel of its maps and masks at {size}x{size} (AUPRO up to a false positive "
    "rate of 0.3), and the mean is the unweighted mean over the categories."
)


@dataclass
class EvalRun:
    """What an evaluation run did.

    Attributes:
        results: The figures (None when the run was stopped before they were computed).
        scoring: What scoring did (counts, interruption).
        out: The evaluation folder.
    """

    results: EvalResults | None
    scoring: ScoreRun
    out: Path

    @property
    def interrupted(self) -> bool:
        """Whether the run was stopped (Ctrl-C) before every input was scored."""
        return self.scoring.summary.interrupted

    def exit_status(self) -> int:
        """0 when every input was scored, 1 when some failed, 2 when none was."""
        if self.results is None or self.results.scored == 0:
            return 2
        return 0 if self.results.failed == 0 else 1


def class_name_of(category: str) -> str:
    """The class name of a manifest category, as the prompts say it.

    >>> class_name_of("metal_nut"), class_name_of("pcb1"), class_name_of("")
    ('metal nut', 'pcb', 'object')
    """
    words = re.sub(r"\d+$", "", category.replace("_", " ")).strip()
    return words or "object"


def evaluate_images(
    manifest: str | Path,
    out: str | Path,
    *,
    config: PipelineConfig,
    references: Sequence[str | Path] = (),
    class_name: str | None = None,
    map_size: int = DEFAULT_MAP_SIZE,
    split: str | None = "test",
    options: BatchOptions | None = None,
    encoder: ClipEncoder | None = None,
    say: Callable[[str], None] | None = None,
) -> EvalRun:
    """Score a manifest's images into ``out`` and write the figures.

    Args:
        manifest: A manifest of image records (``vlad data prepare``).
        out: The evaluation folder (a batch folder: rerunning resumes it).
        config: The pipeline settings (method, CLIP, WinCLIP prompts...).
        references: Normal reference images (few-shot WinCLIP+).
        class_name: One class name for every image (None: each image's category).
        map_size: Side of the kept maps and masks.
        split: Only records of this split (None: all).
        options: How the run works (workers, progress, retry_failed).
        encoder: An already loaded CLIP.
        say: Prints one line for a person.

    Returns:
        The run; its ``results`` are None when it was interrupted.

    Raises:
        VladError: The manifest, the folder or a setting cannot be used.
    """
    if isinstance(map_size, bool) or not isinstance(map_size, int) or not 8 <= map_size <= 2048:
        raise ConfigError(
            f"map_size must be a whole number of pixels from 8 to 2048, got {map_size!r}.",
            param="map_size",
        )
    started = utc_now()
    rows, benchmark = read_rows(manifest, split=split, kinds=("image",), task="images")
    rows = [
        EvalInput(
            replace(
                row.item,
                scene=class_name or class_name_of(row.record.category if row.record else ""),
            ),
            row.record,
            row.line,
        )
        for row in rows
    ]
    store = ResultStore(out).open()
    options = replace(
        options or BatchOptions(), references=tuple(str(r) for r in references), definitions=None
    )
    settings = {
        "task": "images",
        "pipeline": pipeline_settings(config),
        "references": [str(r) for r in references],
        "class_name": class_name or "the manifest category",
        "map_size": map_size,
        "split": split,
    }
    scoring = score_inputs(
        rows,
        store,
        config=config,
        run_settings=settings,
        keep=_keeper(map_size),
        options=options,
        encoder=encoder,
        say=say,
        desc="vlad eval images",
    )
    if scoring.summary.interrupted:
        return EvalRun(None, scoring, Path(out))
    results = image_figures(rows, store, map_size=map_size)
    results.benchmark = benchmark
    results.method = config.method
    results.settings = settings
    results.started = started
    write_outputs(out, results)
    return EvalRun(results, scoring, Path(out))


def _keeper(map_size: int) -> Callable[[EvalInput, Explanation, Path], dict[str, Any]]:
    """What an image evaluation keeps of a scored image: its map, its mask, its score."""

    def keep(row: EvalInput, explanation: Explanation, folder: Path) -> dict[str, Any]:
        from PIL import Image

        record = row.record
        assert record is not None  # rows without a record fail before scoring
        found = explanation.keyframes[0].anomaly_map if explanation.keyframes else None
        if found is None:
            raise InputError(
                f"The method gave no anomaly map for {record.id}; pixel figures need one."
            )
        anomaly = np.asarray(found, dtype=np.float32)
        height, width = (
            int(explanation.height or anomaly.shape[0]),
            int(explanation.width or anomaly.shape[1]),
        )
        small = Image.fromarray(anomaly, mode="F").resize((map_size, map_size), Image.BILINEAR)
        np.save(folder / "map.npy", np.asarray(small, dtype=np.float16))
        kept: dict[str, Any] = {
            "score": float(explanation.score),
            "map": f"results/{row.id}/map.npy",
            "mask": None,
            "height": height,
            "width": width,
            "map_size": map_size,
        }
        if record.mask is not None:
            try:
                with Image.open(record.mask) as opened:
                    mask = opened.convert("L")
            except OSError as exc:
                raise InputError(
                    f"The mask {record.mask} of {record.id} is not a readable image; fix it."
                ) from exc
            if mask.size != (width, height):
                raise InputError(
                    f"The mask {record.mask} of {record.id} is {mask.height}x{mask.width} but "
                    f"its image is {height}x{width} (height x width); they must match."
                )
            binary = np.asarray(mask.resize((map_size, map_size), Image.NEAREST)) > 0
            Image.fromarray((binary * 255).astype(np.uint8)).save(folder / "mask.png")
            kept["mask"] = f"results/{row.id}/mask.png"
        return kept

    return keep


def load_kept(store: ResultStore, row: EvalInput) -> tuple[float, np.ndarray, np.ndarray | None]:
    """An image's kept score, map (float32) and mask (bool, None when it has none).

    Raises:
        InputError: The kept files are missing or unreadable (rerun with ``retry_failed``
            after removing the input's record).
    """
    from PIL import Image

    record = store.load(row.id)
    if record is None or record.get("status") != "ok":
        raise InputError(f"{row.id} has no stored result.")
    kept = record["eval"]
    folder = store.artifact_dir(row.id)
    try:
        anomaly = np.load(folder / "map.npy").astype(np.float32)
        mask = None
        if kept.get("mask"):
            with Image.open(folder / "mask.png") as opened:
                mask = np.asarray(opened.convert("L")) > 0
    except (OSError, ValueError) as exc:
        raise InputError(
            f"The kept map or mask of {row.id} in {folder} cannot be read ({type(exc).__name__}); "
            "delete that input's result file and rerun."
        ) from exc
    return float(kept["score"]), anomaly, mask


def image_figures(rows: Sequence[EvalInput], store: ResultStore, *, map_size: int) -> EvalResults:
    """The figures of the scored images in a store, per category and their mean.

    Args:
        rows: The evaluation's inputs (those without a stored result count as failed).
        store: The evaluation folder.
        map_size: Side of the kept maps (for the pooling sentence).

    Returns:
        The results (``benchmark``, ``method``, ``settings`` and ``started`` left for the
        caller to fill).
    """
    by_category: dict[str, list[tuple[int, float, np.ndarray, np.ndarray | None]]] = {}
    rows_out: list[dict[str, Any]] = []
    notes: list[str] = []
    failed = 0
    for row in rows:
        stored = store.load(row.id)
        record = row.record
        line = {
            "id": row.id,
            "manifest_id": record.id if record is not None else None,
            "line": row.line,
            "path": row.item.path,
            "category": record.category if record is not None else None,
            "label": record.label if record is not None else None,
            "status": "failed",
            "score": None,
            "mask": record.mask if record is not None else None,
            "error": None,
        }
        if stored is None or stored.get("status") != "ok" or record is None:
            failed += 1
            line["error"] = (stored or {}).get("error") or row.item.error or "not scored"
            rows_out.append(line)
            continue
        try:
            score, anomaly, mask = load_kept(store, row)
        except InputError as exc:
            failed += 1
            line["error"] = str(exc)
            rows_out.append(line)
            continue
        line.update(status="ok", score=round(score, 6))
        rows_out.append(line)
        by_category.setdefault(record.category, []).append(
            (int(record.label or 0), score, anomaly, mask)
        )
    per_category: dict[str, dict[str, float]] = {}
    curves: list[Curve] = []
    for category in sorted(by_category):
        items = by_category[category]
        labels = np.array([i[0] for i in items], dtype=np.int8)
        scores = np.array([i[1] for i in items], dtype=np.float64)
        figures: dict[str, float] = {}
        name = category or "all"
        if 0 < labels.sum() < len(labels):
            figures["image_auroc"] = auroc(labels, scores)
            figures["image_ap"] = average_precision(labels, scores)
            figures["image_f1_max"] = f1_max(labels, scores)[0]
            curves.append(Curve(name, labels, scores))
        else:
            notes.append(f"{name}: image figures left out (its scored images are all one class).")
        missing = sum(1 for label, _, _, mask in items if label == 1 and mask is None)
        if any(mask is not None for _, _, _, mask in items):
            if missing:
                notes.append(
                    f"{name}: pixel figures left out ({missing} anomalous image(s) without a mask)."
                )
            else:
                maps = np.stack([i[2] for i in items])
                masks = np.stack(
                    [i[3] if i[3] is not None else np.zeros(i[2].shape, bool) for i in items]
                )
                if masks.any() and not masks.all():
                    pixel = pixel_metrics(masks, maps)  # one sort for both
                    figures["pixel_auroc"], figures["pixel_aupro"] = pixel
                else:
                    notes.append(f"{name}: pixel figures left out (its masks are all one class).")
        per_category[name] = {k: round(float(v), 6) for k, v in figures.items()}
    mean: dict[str, float] = {}
    for metric in ("image_auroc", "image_ap", "image_f1_max", "pixel_auroc", "pixel_aupro"):
        values = [f[metric] for f in per_category.values() if metric in f]
        if values:
            mean[metric] = round(float(np.mean(values)), 6)
    return EvalResults(
        task="images",
        inputs=len(rows),
        scored=len(rows) - failed,
        failed=failed,
        pooling=IMAGE_POOLING.format(size=map_size),
        mean=mean,
        per_category=per_category,
        rows=rows_out,
        curves=curves,
        notes=notes,
    )
