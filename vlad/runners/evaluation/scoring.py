"""What the image and video evaluations share: manifest rows to inputs, and their scoring.

:func:`read_rows` reads a manifest that ``vlad data prepare`` wrote, keeping going past a
bad line (it becomes an input carrying its one-sentence error, recorded as a failure).
:func:`score_inputs` scores the inputs through the batch runner's own path
(:func:`~vlad.runners.batch.local.prepare_run`, :func:`~vlad.runners.batch.local.group_inputs`
and :func:`~vlad.runners.batch.local.explain_group`: one :class:`~vlad.pipeline.Pipeline`,
inputs batched, resumable per input in a :class:`~vlad.runners.batch.store.ResultStore`,
nothing scored twice). What an evaluation keeps of each input (an image's anomaly map, a
video's frame scores) is written by a ``keep`` callback into ``results/<id>/`` and the
record's ``eval`` field, before the record itself: the record is the commit point.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlad.data.manifest import ManifestRecord
from vlad.errors import InputError, VladError
from vlad.runners.batch.inputs import BatchInput, make_id
from vlad.runners.batch.local import (
    BatchOptions,
    BatchSummary,
    explain_group,
    explanation_record,
    failure_record,
    group_inputs,
    prepare_run,
)
from vlad.runners.batch.store import ResultStore

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation
    from vlad.config import PipelineConfig
    from vlad.encoders.clip import ClipEncoder

__all__ = ["EvalInput", "Keep", "ScoreRun", "pipeline_settings", "read_rows", "score_inputs"]

log = logging.getLogger(__name__)

#: Writes what an evaluation keeps of one scored input into the folder given (the
#: input's ``results/<id>/``, built under a temporary name) and returns the record's
#: ``eval`` field. Raising :class:`~vlad.errors.VladError` makes the input a failure.
Keep = Callable[["EvalInput", "Explanation", Path], dict[str, Any]]


@dataclass(frozen=True)
class EvalInput:
    """One manifest row of an evaluation.

    Attributes:
        item: The batch input (store id, path, class name as ``scene``, or an error).
        record: The manifest record, or None for a line that is not a valid record.
        line: The manifest line it came from.
    """

    item: BatchInput
    record: ManifestRecord | None
    line: int

    @property
    def id(self) -> str:
        """The store id (``results/<id>.json``)."""
        return self.item.id


@dataclass
class ScoreRun:
    """What scoring an evaluation's inputs did.

    Attributes:
        summary: The batch runner's counts (done, failed, skipped, interrupted).
        seconds: Wall time of the scoring.
        encoder: The CLIP the pipeline loaded (None when nothing ran), for the next call.
    """

    summary: BatchSummary = field(default_factory=BatchSummary)
    seconds: float = 0.0
    encoder: Any = None


def read_rows(
    manifest: str | Path,
    *,
    split: str | None = "test",
    kinds: Sequence[str],
    task: str,
) -> tuple[list[EvalInput], str | None]:
    """The manifest's rows of a split as evaluation inputs; a bad line is kept with its error.

    Args:
        manifest: The JSON Lines file ``vlad data prepare`` wrote.
        split: Only rows of this split (None: every row). Bad lines are always kept.
        kinds: The record kinds the evaluation scores (``image``; ``video`` and ``frames``).
        task: The evaluation's name for messages (``images``, ``videos``).

    Returns:
        The inputs in file order, and the benchmark name (the records' ``source`` when
        they share one, else None).

    Raises:
        InputError: The manifest is missing, not UTF-8, or holds no row of the split.
    """
    source = Path(manifest).expanduser()
    if not source.is_file():
        raise InputError(
            f"The manifest {source} does not exist; write one with 'vlad data prepare'.",
            param="manifest",
        )
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"The manifest {source} cannot be read ({type(exc).__name__}); check the file.",
            param="manifest",
        ) from None
    rows: list[EvalInput] = []
    used: set[str] = set()
    seen: set[str] = set()
    sources: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source.name} line {number}"
        record, error = _parse(line, where)
        if record is not None and split is not None and record.split != split:
            continue
        seed = record.id if record is not None else f"{source.stem}-line-{number}"
        if record is not None and record.id in seen:
            error, record = f"{where} repeats the id {record.id}; ids must be unique.", None
            seed = f"{source.stem}-line-{number}"
        if record is not None:
            seen.add(record.id)
            sources.add(record.source)
            error = error or _row_problem(record, where, kinds, task)
        path = _resolved(record.path, source.parent) if record is not None else ""
        item_id = make_id(seed)
        while item_id in used:
            item_id = f"{item_id}-{number}"
        used.add(item_id)
        rows.append(EvalInput(BatchInput(id=item_id, path=path, error=error), record, number))
    if not rows:
        wanted = f"of split {split} " if split is not None else ""
        raise InputError(
            f"The manifest {source} holds no row {wanted}to evaluate; choose another split "
            "or check the file.",
            param="manifest",
        )
    benchmark = next(iter(sources)) if len(sources) == 1 else None
    return rows, benchmark


def _parse(line: str, where: str) -> tuple[ManifestRecord | None, str | None]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"{where} is not JSON ({exc.msg}); fix or remove that line."
    try:
        return ManifestRecord.from_json(data, where=where), None
    except InputError as exc:
        return None, str(exc)


def _row_problem(record: ManifestRecord, where: str, kinds: Sequence[str], task: str) -> str | None:
    if record.kind not in kinds:
        return (
            f"{where} ({record.id}) is of kind {record.kind}, which 'vlad eval {task}' does not "
            f"score; give a manifest of {' or '.join(kinds)} records."
        )
    if record.kind == "image" and record.label is None:
        return f"{where} ({record.id}) has no label; an evaluation needs 0 or 1 for each image."
    if record.mask is not None and not Path(record.mask).expanduser().is_file():
        return f"The mask {record.mask} of {record.id} ({where}) does not exist; fix the path."
    return None


def _resolved(path: str, base: Path) -> str:
    target = Path(path).expanduser()
    return str(target if target.is_absolute() else base / target)


def pipeline_settings(config: PipelineConfig) -> dict[str, Any]:
    """The pipeline settings that decide scores, as plain data (batch sizes left out)."""
    from vlad.utils.runinfo import plain

    settings = plain(config)
    settings.pop("batch_size", None)
    settings.pop("llm", None)
    if isinstance(settings.get("video"), dict):
        settings["video"].pop("batch_size", None)
    return settings


def score_inputs(
    rows: Sequence[EvalInput],
    store: ResultStore,
    *,
    config: PipelineConfig,
    run_settings: Mapping[str, Any],
    keep: Keep,
    options: BatchOptions,
    encoder: ClipEncoder | None = None,
    say: Callable[[str], None] | None = None,
    desc: str = "vlad eval",
) -> ScoreRun:
    """Score every input not already done into the store, through the batch runner's path.

    Args:
        rows: The evaluation's inputs (bad rows are recorded as failures).
        store: The opened output folder.
        config: The pipeline settings (its ``llm`` is ignored: the texts are the template's).
        run_settings: The settings that decide results (hashed with each input's own).
        keep: Writes what the evaluation keeps of a scored input (see :data:`Keep`).
        options: How the run works (workers, progress, the run's definitions, rules...).
        encoder: An already loaded CLIP (None: loaded from ``config.clip`` if anything runs).
        say: Prints one line for a person.
        desc: The progress bar's label.

    Returns:
        What was done; ``summary.interrupted`` is set on Ctrl-C (what finished is stored).

    Raises:
        VladError: The models cannot be loaded (nothing has been scored then).
    """
    from tqdm import tqdm

    started = time.perf_counter()
    by_id = {row.id: row for row in rows}
    summary, hashes, runnable = prepare_run(
        [row.item for row in rows], store, run_settings=run_settings, options=options, say=say
    )
    run = ScoreRun(summary)
    bar = tqdm(
        total=len(runnable),
        unit="input",
        desc=desc,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not options.progress or not runnable,
    )
    try:
        if runnable:
            from vlad.pipeline import Pipeline

            pipeline = Pipeline.from_config(replace(config, llm=None), encoder=encoder)
            run.encoder = pipeline.encoder
            for kwargs, group in group_inputs(runnable, options):
                for item, explanation, seconds in explain_group(
                    pipeline, kwargs, group, workers=options.workers
                ):
                    ok = _store_one(by_id[item.id], explanation, seconds, hashes, store, keep)
                    summary.done += ok
                    summary.failed += not ok
                    summary.remaining = max(0, summary.remaining - 1)
                    bar.update(1)
                    bar.set_postfix_str(
                        f"done {summary.done} failed {summary.failed}", refresh=False
                    )
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        store.rebuild_index()
        counts = store.summary()
        summary.ok_total, summary.failed_total = counts["ok"], counts["failed"]
        run.seconds = summary.seconds = time.perf_counter() - started
    return run


def _store_one(
    row: EvalInput,
    explanation: Explanation,
    seconds: float,
    hashes: Mapping[str, str],
    store: ResultStore,
    keep: Keep,
) -> bool:
    """Write an input's kept data, then its record; True when it is a result."""
    from vlad.utils.io import atomic_folder

    item, digest = row.item, hashes[row.id]
    if not explanation.ok:
        store.write(failure_record(item, explanation.error or "", digest, seconds, explanation))
        return False
    try:
        with atomic_folder(store.artifact_dir(item.id), overwrite=True) as folder:
            kept = keep(row, explanation, folder)
    except VladError as exc:
        store.write(failure_record(item, str(exc), digest, seconds, explanation))
        return False
    except OSError as exc:
        message = (
            f"Cannot write the results of '{item.path}' ({type(exc).__name__}); check the disk."
        )
        store.write(failure_record(item, message, digest, seconds, explanation))
        return False
    record = explanation_record(item, explanation, digest, seconds, [])
    record.pop("timeline", None)  # the frame scores are kept whole in "eval"
    record["manifest_id"] = row.record.id if row.record is not None else None
    record["eval"] = kept
    store.write(record)
    return True
