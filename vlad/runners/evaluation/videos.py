"""``vlad eval videos``: frame-level AUC and AP of videos and frame folders, pooled and per video.

Every test video of a manifest (UCSD Ped2, Avenue, ShanghaiTech, UBnormal, UCF-Crime,
XD-Violence...) goes through the one pipeline (the batch runner's path, resumable per video)
with the run's definitions, rules or memory. Its fused score track (one score per sampled
frame, at ``--fps``) is kept whole in the record; the scores are then interpolated linearly
over the frame index onto every labelled frame (held constant before the first and after
the last sampled frame), the frame labels coming from the manifest's anomalous intervals.
A video's event category is never shown to the scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vlad.errors import InputError
from vlad.metrics import auroc, average_precision, frame_ap, frame_auc
from vlad.runners.batch.local import BatchOptions
from vlad.runners.batch.store import ResultStore
from vlad.runners.evaluation.images import EvalRun
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

__all__ = ["VIDEO_POOLING", "evaluate_videos", "frame_scores", "video_figures", "video_method"]

VIDEO_POOLING = (
    "frame_auc and frame_ap are micro-averaged: the frame scores of every test video, "
    "interpolated onto its labelled frames, are concatenated and ranked once over all "
    "frames of the set (as the Ped2, Avenue, ShanghaiTech, UBnormal, UCF-Crime and "
    "XD-Violence papers pool them; XD-Violence's headline figure is frame_ap); "
    "frame_auc_per_video_mean is the mean AUC of the videos that hold both normal and "
    "anomalous frames; per_category pools the frames of each category's videos the same way."
)


def video_method(*, rules: str | Path | None, memory: str | Path | None) -> str:
    """The method name a video run reports: ``rules``, ``memory`` or ``definitions``."""
    if rules is not None:
        return "rules"
    if memory is not None:
        return "memory"
    return "definitions"


def evaluate_videos(
    manifest: str | Path,
    out: str | Path,
    *,
    config: PipelineConfig,
    frames_fps: float | None = None,
    split: str | None = "test",
    options: BatchOptions | None = None,
    encoder: ClipEncoder | None = None,
    say: Callable[[str], None] | None = None,
) -> EvalRun:
    """Score a manifest's videos and frame folders into ``out`` and write the figures.

    Args:
        manifest: A manifest of video or frame-folder records (``vlad data prepare``).
        out: The evaluation folder (a batch folder: rerunning resumes it).
        config: The pipeline settings (definitions, sampling fps, smoothing...).
        frames_fps: Frame rate of frame folders whose record gives none.
        split: Only records of this split (None: all).
        options: How the run works, and the run's scene, rules or memory.
        encoder: An already loaded CLIP.
        say: Prints one line for a person.

    Returns:
        The run; its ``results`` are None when it was interrupted.

    Raises:
        VladError: The manifest, the folder or a setting cannot be used.
    """
    started = utc_now()
    options = options or BatchOptions()
    rows, benchmark = read_rows(manifest, split=split, kinds=("video", "frames"), task="videos")
    groups: dict[float | None, list[EvalInput]] = {}
    checked: list[EvalInput] = []
    for row in rows:
        record = row.record
        fps = config.video.frames_fps
        if record is not None and row.item.error is None and record.kind == "frames":
            fps = record.fps or frames_fps
            if fps is None:
                row = EvalInput(
                    replace(
                        row.item,
                        error=f"The frame folder {record.id} (line {row.line}) has no fps in "
                        "the manifest; give frames_fps.",
                    ),
                    record,
                    row.line,
                )
        checked.append(row)
        groups.setdefault(fps, []).append(row)
    rows = checked
    store = ResultStore(out).open()
    method = video_method(rules=options.rules, memory=options.memory)
    base = {
        "task": "videos",
        "method": method,
        "split": split,
        "scene": options.scene,
        "rules": options.rules,
        "memory": options.memory,
    }
    scoring = ScoreRun()
    for fps, group in groups.items():
        group_config = replace(config, video=replace(config.video, frames_fps=fps))
        settings = {**base, "pipeline": pipeline_settings(group_config)}
        run = score_inputs(
            group,
            store,
            config=group_config,
            run_settings=settings,
            keep=_keep,
            options=options,
            encoder=encoder,
            say=say,
            desc="vlad eval videos",
        )
        encoder = run.encoder or encoder
        _add(scoring, run)
        if run.summary.interrupted:
            return EvalRun(None, scoring, Path(out))
    results = video_figures(rows, store)
    results.benchmark = benchmark
    results.method = method
    results.settings = {
        **base,
        "pipeline": pipeline_settings(config),
        "frames_fps": sorted(str(f) for f in groups if f is not None),
        "labels": "scores interpolated linearly over the frame index onto every labelled frame",
    }
    results.started = started
    write_outputs(out, results)
    return EvalRun(results, scoring, Path(out))


def _add(total: ScoreRun, run: ScoreRun) -> None:
    mine, theirs = total.summary, run.summary
    for name in ("total", "skipped", "skipped_failed", "changed", "done", "failed"):
        setattr(mine, name, getattr(mine, name) + getattr(theirs, name))
    mine.interrupted = theirs.interrupted
    mine.ok_total, mine.failed_total = theirs.ok_total, theirs.failed_total
    total.seconds += run.seconds
    mine.seconds = total.seconds


def _keep(row: EvalInput, explanation: Explanation, folder: Path) -> dict[str, Any]:
    """What a video evaluation keeps: the fused score of every sampled frame."""
    record = row.record
    assert record is not None  # rows without a record fail before scoring
    fused = explanation.fused
    indices = np.asarray(fused.frame_indices, dtype=np.int64)
    values = np.asarray(fused.values, dtype=np.float64)
    if indices.size == 0:
        raise InputError(f"No frame of {record.id} was scored; check the video.")
    frames = record.frames or explanation.frame_count
    if frames is None:
        raise InputError(
            f"The frame count of {record.id} is unknown (not in the manifest, not in the "
            "video); add frames to its manifest record."
        )
    if record.intervals and record.intervals[-1][1] > frames:
        raise InputError(
            f"The anomalous frames of {record.id} end at frame {record.intervals[-1][1]} but "
            f"the video has {frames} frames; check its manifest record."
        )
    return {
        "frame_indices": indices.tolist(),
        "scores": [round(float(v), 6) for v in values],
        "frames": int(frames),
        "decoded_frames": explanation.frame_count,
    }


def frame_scores(kept: dict[str, Any]) -> np.ndarray:
    """One score per labelled frame from a video's kept samples (linear interpolation).

    Args:
        kept: A record's ``eval`` field (``frame_indices``, ``scores``, ``frames``).

    Returns:
        ``frames`` float64 scores; frames before the first (after the last) sampled frame
        take its score.

    Example:
        >>> frame_scores({"frame_indices": [1, 3], "scores": [0.2, 0.6], "frames": 5}).tolist()
        [0.2, 0.2, 0.4, 0.6, 0.6]
    """
    indices = np.asarray(kept["frame_indices"], dtype=np.float64)
    values = np.asarray(kept["scores"], dtype=np.float64)
    return np.interp(np.arange(int(kept["frames"]), dtype=np.float64), indices, values)


def _labels(record: Any, frames: int) -> np.ndarray:
    labels = np.zeros(frames, dtype=np.int8)
    for start, stop in record.intervals:
        labels[start:stop] = 1
    return labels


def video_figures(rows: Sequence[EvalInput], store: ResultStore) -> EvalResults:
    """The frame figures of the scored videos in a store: pooled, per category, per video.

    Args:
        rows: The evaluation's inputs (those without a stored result count as failed).
        store: The evaluation folder.

    Returns:
        The results (``benchmark``, ``method``, ``settings`` and ``started`` left for the
        caller to fill).
    """
    rows_out: list[dict[str, Any]] = []
    labels_all: list[np.ndarray] = []
    scores_all: list[np.ndarray] = []
    by_category: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    per_video_auc: list[float] = []
    notes: list[str] = []
    failed = 0
    for row in rows:
        stored = store.load(row.id)
        record = row.record
        line: dict[str, Any] = {
            "id": row.id,
            "manifest_id": record.id if record is not None else None,
            "line": row.line,
            "path": row.item.path,
            "category": record.category if record is not None else None,
            "label": record.label if record is not None else None,
            "status": "failed",
            "frames": None,
            "anomalous_frames": None,
            "scored_frames": None,
            "max_score": None,
            "frame_auc": None,
            "frame_ap": None,
            "error": None,
        }
        rows_out.append(line)
        if stored is None or stored.get("status") != "ok" or record is None:
            failed += 1
            line["error"] = (stored or {}).get("error") or row.item.error or "not scored"
            continue
        kept = stored["eval"]
        scores = frame_scores(kept)
        labels = _labels(record, int(kept["frames"]))
        line.update(
            status="ok",
            frames=int(kept["frames"]),
            anomalous_frames=int(labels.sum()),
            scored_frames=len(kept["scores"]),
            max_score=round(float(scores.max()), 6),
        )
        if 0 < labels.sum() < labels.size:
            line["frame_auc"] = round(auroc(labels, scores), 6)
            line["frame_ap"] = round(average_precision(labels, scores), 6)
            per_video_auc.append(float(line["frame_auc"]))
        labels_all.append(labels)
        scores_all.append(scores)
        pair = by_category.setdefault(record.category, ([], []))
        pair[0].append(labels)
        pair[1].append(scores)
    mean: dict[str, float] = {}
    curves: list[Curve] = []
    if labels_all:
        pooled = np.concatenate(labels_all)
        if 0 < pooled.sum() < pooled.size:
            mean["frame_auc"] = round(frame_auc(labels_all, scores_all), 6)
            mean["frame_ap"] = round(frame_ap(labels_all, scores_all), 6)
            curves.append(Curve("all frames", pooled, np.concatenate(scores_all)))
        else:
            notes.append("Pooled figures left out: the scored frames are all one class.")
    if per_video_auc:
        mean["frame_auc_per_video_mean"] = round(float(np.mean(per_video_auc)), 6)
        notes.append(
            f"frame_auc_per_video_mean averages {len(per_video_auc)} video(s) holding both "
            "normal and anomalous frames."
        )
    per_category: dict[str, dict[str, float]] = {}
    for category in sorted(by_category):
        labels_list, scores_list = by_category[category]
        pooled = np.concatenate(labels_list)
        name = category or "all"
        if 0 < pooled.sum() < pooled.size:
            per_category[name] = {
                "frame_auc": round(frame_auc(labels_list, scores_list), 6),
                "frame_ap": round(frame_ap(labels_list, scores_list), 6),
            }
        else:
            per_category[name] = {}
            notes.append(f"{name}: figures left out (its frames are all one class).")
    return EvalResults(
        task="videos",
        inputs=len(rows),
        scored=len(rows) - failed,
        failed=failed,
        pooling=VIDEO_POOLING,
        mean=mean,
        per_category=per_category,
        rows=rows_out,
        curves=curves,
        notes=notes,
    )
