"""The one-machine engine of ``vlad batch``: models loaded once, results written as they come.

:func:`run_local` explains a list of :class:`~vlad.runners.batch.inputs.BatchInput` into a
:class:`~vlad.runners.batch.store.ResultStore`:

- inputs whose record exists with the same settings hash are skipped (failures too, unless
  ``retry_failed``); a record made with other settings is redone, and the run says so;
- one :class:`~vlad.pipeline.Pipeline` is built for the run; rows sharing per-row options
  (definitions, scene, rules, memory) go through one ``iter_analyze`` call, so images are
  batched across inputs and each stage is set up once per group;
- the pipeline runs on a background thread up to ``workers`` inputs ahead of the writer
  (:func:`~vlad.utils.prefetch.prefetch`): while one input's texts are asked and its PNGs
  and record written, the next videos are decoded and encoded (each video's decoding
  already overlaps its own CLIP encoding inside the pipeline);
- the language model words the texts of up to ``llm_batch`` inputs in one ``chat()`` call,
  through the answer cache, so a resumed run asks nothing twice;
- each input's PNGs (``results/<id>/``) and then its record are written atomically as soon
  as its text is ready; a kill loses at most the inputs in flight;
- a bar over the inputs, and under it :class:`VideoBar`: the sampled frames of the video
  being analysed, to 100 % when it is done.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vlad.errors import VladError
from vlad.runners.batch.inputs import BatchInput
from vlad.runners.batch.store import ResultStore, settings_hash
from vlad.utils.messages import one_line

if TYPE_CHECKING:
    from vlad.answer.explanation import Explanation
    from vlad.config import PipelineConfig
    from vlad.pipeline.summary import AnswerWriter
    from vlad.reasoning.llm import ChatBackend, Conversation, GenerationSettings

__all__ = [
    "BatchOptions",
    "BatchSummary",
    "CountingBackend",
    "VideoBar",
    "explain_group",
    "explanation_record",
    "failure_record",
    "group_inputs",
    "input_hashes",
    "make_writer",
    "plan_inputs",
    "prepare_run",
    "run_local",
    "store_results",
    "timeline_of",
    "write_artifacts",
]

log = logging.getLogger(__name__)

MAX_TIMELINE_POINTS = 500
"""Most points of a record's ``timeline`` (longer tracks are subsampled evenly)."""

MAX_PNG_SIDE = 768
"""Longest side of a keyframe or overlay PNG (larger frames are shrunk for the report)."""


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run works (what does not change a result).

    Attributes:
        retry_failed: Analyse again the inputs whose stored record is a failure.
        workers: Inputs the pipeline may run ahead of the writer (0: none, in turn).
        llm_batch: Most inputs whose texts go to the language model in one call.
        progress: Show a progress bar over the inputs.
        references: Normal reference images for few-shot WinCLIP+ on images.
        definitions: The run's definitions for rows without their own (None: the config's).
        scene: The run's scene for rows without their own.
        rules: The run's rule file for rows without their own.
        memory: The run's memory folder for rows without their own.
        captioner: Describes the peak frames that rules cite (with rules), or None.
    """

    retry_failed: bool = False
    workers: int = 2
    llm_batch: int = 8
    progress: bool = True
    references: tuple[str, ...] = ()
    definitions: tuple[str, ...] | None = None
    scene: str | None = None
    rules: str | None = None
    memory: str | None = None
    captioner: Any = None


@dataclass
class BatchSummary:
    """What a batch run did.

    Attributes:
        total: Inputs given.
        skipped: Inputs already done with these settings (not run again).
        skipped_failed: Stored failures not retried (no ``retry_failed``).
        changed: Inputs redone because their record was made with other settings.
        done: Inputs analysed in this run.
        failed: Inputs that failed in this run.
        remaining: Inputs not reached (the run was stopped).
        interrupted: Whether the run was stopped (Ctrl-C).
        seconds: Wall time of the run.
        llm_conversations: Conversations sent to the language model (cache misses).
        llm_invocations: ``chat()`` calls that reached the language model.
        llm_cached: Conversations answered from the cache.
        ok_total: Records in the folder that are results, after the run.
        failed_total: Records in the folder that are failures, after the run.
    """

    total: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    changed: int = 0
    done: int = 0
    failed: int = 0
    remaining: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    llm_conversations: int = 0
    llm_invocations: int = 0
    llm_cached: int = 0
    ok_total: int = 0
    failed_total: int = 0
    messages: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for a person: what was done, failed, skipped and is left."""
        parts = [f"{self.done} analysed", f"{self.failed} failed"]
        if self.skipped or self.skipped_failed:
            parts.append(f"{self.skipped + self.skipped_failed} already done")
        if self.remaining:
            parts.append(f"{self.remaining} remaining")
        return ", ".join(parts) + f" of {self.total} input(s) in {self.seconds:.1f} s"

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready summary."""
        record = {k: v for k, v in self.__dict__.items() if k != "messages"}
        record["seconds"] = round(self.seconds, 3)
        return record


class CountingBackend:
    """A chat backend wrapper that counts ``chat()`` calls and conversations.

    Args:
        backend: The backend that answers.
    """

    def __init__(self, backend: ChatBackend) -> None:
        self.backend = backend
        self.invocations = 0
        self.conversations = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The inner backend's name."""
        return self.backend.name

    def chat(
        self, conversations: Sequence[Conversation], settings: GenerationSettings
    ) -> list[str]:
        """Answer through the inner backend, counting the call."""
        with self._lock:
            self.invocations += 1
            self.conversations += len(conversations)
        return self.backend.chat(conversations, settings)


def plan_inputs(
    store: ResultStore,
    items: Sequence[BatchInput],
    hashes: Mapping[str, str],
    *,
    retry_failed: bool,
    summary: BatchSummary,
) -> list[BatchInput]:
    """The inputs to analyse now; counts what is skipped or redone in ``summary``.

    Args:
        store: The output folder.
        items: Every input of the run.
        hashes: Each input id's settings hash.
        retry_failed: Redo stored failures.
        summary: Filled with the counts.

    Returns:
        The inputs to run, in order.
    """
    todo: list[BatchInput] = []
    for item in items:
        state = store.state(item.id, hashes[item.id])
        if state == "done":
            summary.skipped += 1
        elif state == "failed" and not retry_failed:
            summary.skipped_failed += 1
        else:
            summary.changed += state == "changed"
            todo.append(item)
    return todo


def input_hashes(items: Sequence[BatchInput], run_settings: Mapping[str, Any]) -> dict[str, str]:
    """Each input's settings hash: the run's settings with the input's own (path, row options).

    Args:
        items: The inputs.
        run_settings: The settings that decide results.

    Returns:
        Input id -> settings hash.
    """
    return {
        item.id: settings_hash({"run": dict(run_settings), "input": item.row_settings()})
        for item in items
    }


def prepare_run(
    items: Sequence[BatchInput],
    store: ResultStore,
    *,
    run_settings: Mapping[str, Any],
    options: BatchOptions,
    say: Callable[[str], None] | None = None,
) -> tuple[BatchSummary, dict[str, str], list[BatchInput]]:
    """What every engine does before analysing: hash, skip what is done, record bad inputs.

    Says how many inputs are skipped or redone; writes a failure record for each input
    that cannot run (a missing file, a manifest row without a path).

    Args:
        items: Every input of the run.
        store: The opened output folder.
        run_settings: The settings that decide results.
        options: How the run works (``retry_failed``).
        say: Prints one line for a person (default: the log).

    Returns:
        The summary so far, each input's settings hash, and the inputs to analyse.
    """
    tell = say or log.warning
    summary = BatchSummary(total=len(items))
    hashes = input_hashes(items, run_settings)
    todo = plan_inputs(store, items, hashes, retry_failed=options.retry_failed, summary=summary)
    if summary.skipped:
        tell(f"{summary.skipped} input(s) already done with these settings are skipped.")
    if summary.skipped_failed:
        tell(
            f"{summary.skipped_failed} input(s) failed before and are skipped; "
            "add --retry-failed to try them again."
        )
    if summary.changed:
        tell(f"{summary.changed} result(s) were made with other settings; analysing them again.")
    for item in todo:
        if item.error is not None:
            store.write(failure_record(item, item.error, hashes[item.id], 0.0))
            summary.failed += 1
    runnable = [item for item in todo if item.error is None]
    summary.remaining = len(runnable)
    return summary, hashes, runnable


def run_local(
    items: Sequence[BatchInput],
    store: ResultStore,
    *,
    config: PipelineConfig,
    run_settings: Mapping[str, Any],
    llm: str | None = None,
    cache: bool = True,
    options: BatchOptions | None = None,
    say: Callable[[str], None] | None = None,
) -> BatchSummary:
    """Explain every input not already done into the store, on this machine.

    Args:
        items: The inputs (from :func:`~vlad.runners.batch.inputs.expand_inputs`).
        store: The opened output folder.
        config: The pipeline settings (its ``llm`` is ignored: see ``llm``).
        run_settings: The settings that decide results (hashed with each input's own).
        llm: The chat backend spec that words the texts (None or ``none``: the template).
        cache: Answer repeated prompts from the answer cache.
        options: How the run works.
        say: Prints one line for a person (default: the log).

    Returns:
        The summary. On Ctrl-C it is returned with ``interrupted`` set (what finished is
        stored; the inputs in flight are not).

    Raises:
        VladError: The models cannot be loaded or a run-wide setting is unusable (nothing
            has been analysed then).
    """
    options = options or BatchOptions()
    started = time.perf_counter()
    summary, hashes, runnable = prepare_run(
        items, store, run_settings=run_settings, options=options, say=say
    )
    try:
        if runnable:
            _run(runnable, store, hashes, config, llm, cache, options, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        store.rebuild_index()
        counts = store.summary()
        summary.ok_total, summary.failed_total = counts["ok"], counts["failed"]
        summary.seconds = time.perf_counter() - started
    return summary


def _run(
    items: list[BatchInput],
    store: ResultStore,
    hashes: Mapping[str, str],
    config: PipelineConfig,
    llm: str | None,
    cache: bool,
    options: BatchOptions,
    summary: BatchSummary,
) -> None:
    from tqdm import tqdm

    from vlad.pipeline import Pipeline

    pipeline = Pipeline.from_config(replace(config, llm=None))
    counter, writer = make_writer(config, llm, cache)
    bar = tqdm(
        total=len(items),
        unit="input",
        desc="vlad batch",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not options.progress,
    )

    video_bar = VideoBar(
        sample_fps=config.video.sample_fps,
        frames_fps=config.video.frames_fps,
        enabled=options.progress,
    )

    def stage(_fraction: float, text: str) -> None:
        bar.set_postfix_str(_postfix(summary, text), refresh=False)

    most = max(1, options.llm_batch) if writer.llm is not None else 1
    try:
        for kwargs, group in group_inputs(items, options):
            pending: list[tuple[BatchInput, Explanation, float]] = []
            for done in explain_group(
                pipeline,
                kwargs,
                group,
                workers=options.workers,
                on_stage=stage,
                on_input=video_bar.update,
            ):
                pending.append(done)
                if len(pending) >= most:
                    store_results(pending, writer, store, hashes, summary, bar)
                    pending = []
            store_results(pending, writer, store, hashes, summary, bar)
    finally:
        video_bar.close()
        bar.close()
        if counter is not None:
            summary.llm_conversations = counter.conversations
            summary.llm_invocations = counter.invocations
            summary.llm_cached = int(getattr(writer.llm, "hits", 0))


def make_writer(
    config: PipelineConfig, llm: str | None, cache: bool
) -> tuple[CountingBackend | None, AnswerWriter]:
    """The answer writer of a run: the backend counted, behind the answer cache.

    Args:
        config: The pipeline settings (its answer prompts).
        llm: The backend spec (None or ``none``: texts from the template).
        cache: Answer repeated prompts from the answer cache.

    Returns:
        The counter around the model (None without one) and the writer.
    """
    from vlad.pipeline.summary import AnswerPrompts, AnswerWriter

    prompts = AnswerPrompts.load(config.answer_prompts)
    if llm is None or llm.strip().lower() in ("", "none"):
        return None, AnswerWriter(None, prompts)
    from vlad.reasoning.registry import CachedBackend, load_backend

    counter = CountingBackend(load_backend(llm))
    if not cache:
        return counter, AnswerWriter(counter, prompts)
    from vlad.reasoning.cache import AnswerCache

    return counter, AnswerWriter(CachedBackend(counter, AnswerCache()), prompts)


def group_inputs(
    items: Sequence[BatchInput], options: BatchOptions
) -> list[tuple[dict[str, Any], list[BatchInput]]]:
    """Inputs grouped by their analysis options, with the keywords of their pipeline call.

    Rows without their own definitions, scene, rules or memory take the run's.

    Returns:
        (``iter_analyze`` keywords, inputs) per group, in order of first appearance.
    """
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], list[BatchInput]]] = {}
    for item in items:
        kwargs: dict[str, Any] = {}
        definitions = item.definitions if item.definitions is not None else options.definitions
        if definitions:
            kwargs["definitions"] = definitions
        scene = item.scene if item.scene is not None else options.scene
        if scene:
            kwargs["scene"] = scene
        rules = item.rules if item.rules is not None else options.rules
        if rules:
            kwargs["rules"] = rules
            if options.captioner is not None:
                kwargs["captioner"] = options.captioner
        memory = item.memory if item.memory is not None else options.memory
        if memory:
            kwargs["memory"] = memory
        if options.references:
            kwargs["references"] = options.references
        key = (definitions, scene, rules, memory)
        groups.setdefault(key, (kwargs, []))[1].append(item)
    return list(groups.values())


def explain_group(
    pipeline: Any,
    kwargs: Mapping[str, Any],
    items: Sequence[BatchInput],
    *,
    workers: int = 2,
    on_stage: Callable[[float, str], None] | None = None,
    on_input: Callable[[BatchInput, float, str], None] | None = None,
) -> Iterator[tuple[BatchInput, Explanation, float]]:
    """Explain inputs sharing options through one pipeline call, running ahead of the caller.

    The pipeline runs on a background thread up to ``workers`` inputs ahead (0: in turn).
    An unexpected crash on one input gives that input a failure (one sentence) and the
    call resumes with the next ones; a set-up error of the group (its rules file or
    memory cannot be used) gives each of its inputs that failure.

    Args:
        pipeline: The run's :class:`~vlad.pipeline.Pipeline`.
        kwargs: The ``iter_analyze`` keywords of the group.
        items: The inputs.
        workers: Inputs analysed ahead of the caller.
        on_stage: Progress callback (fraction of the group, stage text).
        on_input: Progress callback of the input being analysed (input, its own
            fraction, stage text), called on the pipeline's thread.

    Yields:
        (input, explanation with the template text, seconds the pipeline spent), in order.
    """
    from vlad.answer.explanation import Explanation
    from vlad.utils.prefetch import prefetch

    rest = list(items)
    while rest:
        options = dict(kwargs)
        if on_stage is not None or on_input is not None:
            options["progress"] = _split_progress(rest, on_stage, on_input)
        stream: Iterator[tuple[Explanation, float]] = _timed(
            pipeline.iter_analyze([item.path for item in rest], **options)
        )
        if workers > 0:
            stream = prefetch(stream, maxsize=workers)
        position = 0
        try:
            for item, (explanation, seconds) in zip(rest, stream, strict=False):
                position += 1
                yield item, explanation, seconds
            return
        except Exception as problem:  # one input's crash must not stop the run
            if position == 0 and isinstance(problem, VladError):
                for item in rest:
                    yield item, Explanation.failure(item.path, str(problem), kind=_kind(item)), 0.0
                return
            failed = rest[position]
            log.debug("Input %s failed", failed.path, exc_info=problem)
            message = (
                str(problem)
                if isinstance(problem, VladError)
                else f"Cannot analyse '{failed.path}': unexpected error "
                f"({type(problem).__name__}: {one_line(str(problem))}); "
                "rerun with --debug and report it."
            )
            yield failed, Explanation.failure(failed.path, message, kind=_kind(failed)), 0.0
            rest = rest[position + 1 :]
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def _split_progress(
    items: Sequence[BatchInput],
    on_stage: Callable[[float, str], None] | None,
    on_input: Callable[[BatchInput, float, str], None] | None,
) -> Callable[[float, str], None]:
    """A pipeline progress callback that also tells which input it is about, and how far.

    The pipeline reports ``(number + fraction) / total`` over the inputs of its call; an
    input's last report (its fraction 1) is the same number as the next one's first, so
    a stage of ``Done`` is given to the input before.
    """
    total = max(len(items), 1)

    def progress(fraction: float, text: str) -> None:
        if on_stage is not None:
            on_stage(fraction, text)
        if on_input is None or not items:
            return
        position = fraction * total
        number = min(int(position + 1e-9), total - 1)
        own = min(max(position - number, 0.0), 1.0)
        stage = text.rsplit(": ", 1)[-1]
        if stage == "Done":
            if own < 1e-6 and number > 0:
                number -= 1
            own = 1.0
        on_input(items[number], own, stage)

    return progress


class VideoBar:
    """The second progress bar: the sampled frames of the video being analysed.

    It counts frames as they are encoded (total: the video's duration times the sampling
    rate, probed when the video starts), shows the stage after encoding (scoring, peak-
    frame maps, keyframes) and reaches 100 % when the video is done. Images have none.

    Args:
        sample_fps: Frames per second scored (None: every frame).
        frames_fps: The frame rate of frame folders.
        enabled: Draw it (False: every call does nothing).
        position: Its line under the bar over inputs.
    """

    def __init__(
        self,
        *,
        sample_fps: float | None,
        frames_fps: float | None,
        enabled: bool = True,
        position: int = 1,
    ) -> None:
        self.sample_fps = sample_fps
        self.frames_fps = frames_fps
        self.enabled = enabled
        self.position = position
        self.bar: Any = None
        self.current: str | None = None
        self.finished: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def update(self, item: BatchInput, fraction: float, stage: str) -> None:
        """Show an input's progress (called with the pipeline's per-input fraction).

        Encoding moves the bar over the video's sampled frames (the pipeline reports
        ``0.05 + 0.7 * time of the last frame encoded / duration`` while encoding);
        later stages fill it.
        """
        if not self.enabled or _kind(item) != "video":
            return
        with self._lock:
            if self.current != item.id:
                self._finish()
                self._open(item)
            bar = self.bar
            if bar is None:
                return
            total = int(bar.total or 0)
            if stage == "Encoding":  # the time of the last frame encoded: one frame more
                reached = min(max((fraction - 0.05) / 0.7, 0.0), 1.0)
                done = min(total, round(reached * total) + 1)
            elif stage == "Opening the video":
                done = 0
            else:
                done = total
            if done > bar.n:
                bar.update(done - bar.n)
            bar.set_postfix_str(stage.lower(), refresh=True)
            if stage == "Done":
                self._finish()

    def _open(self, item: BatchInput) -> None:
        from tqdm import tqdm

        from vlad.media.video import probe_video

        self.current = item.id
        try:
            info = probe_video(item.path, frames_fps=self.frames_fps)
        except Exception:  # the pipeline says what is wrong with the input; no bar for it
            self.bar = None
            return
        frames = info.frame_count
        if self.sample_fps is not None and info.duration_s > 0:
            frames = min(frames, max(1, math.ceil(info.duration_s * self.sample_fps)))
        self.bar = tqdm(
            total=max(frames, 1),
            unit="frame",
            desc=f"  {Path(item.path).name[-30:]}",
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
            position=self.position,
        )

    def _finish(self) -> None:
        if self.bar is not None:
            self.finished.append((str(self.current), int(self.bar.n), int(self.bar.total)))
            self.bar.close()
        self.bar = None
        self.current = None

    def close(self) -> None:
        """Remove the bar (the run is over or stopped)."""
        with self._lock:
            if self.bar is not None:
                self.bar.close()
            self.bar = None
            self.current = None


def _kind(item: BatchInput) -> Literal["video", "image"]:
    from vlad.media.video import is_video_path

    return "video" if is_video_path(item.path) or Path(item.path).is_dir() else "image"


def _timed(stream: Iterator[Explanation]) -> Iterator[tuple[Explanation, float]]:
    """Each explanation with the seconds the pipeline spent on it (on the producer side)."""
    while True:
        start = time.perf_counter()
        try:
            explanation = next(stream)
        except StopIteration:
            return
        yield explanation, time.perf_counter() - start


def store_results(
    pending: Sequence[tuple[BatchInput, Explanation, float]],
    writer: AnswerWriter,
    store: ResultStore,
    hashes: Mapping[str, str],
    summary: BatchSummary,
    bar: Any = None,
) -> None:
    """Word the texts of finished inputs (one model call), then write their PNGs and records.

    Args:
        pending: (input, explanation, seconds) of finished inputs.
        writer: The answer writer (its model words every text in one ``chat()`` call).
        store: The output folder.
        hashes: Each input's settings hash.
        summary: Counts updated (done, failed, remaining).
        bar: A tqdm bar to advance, or None.
    """
    if not pending:
        return
    ok = [(i, e, s) for i, e, s in pending if e.ok]
    start = time.perf_counter()
    if ok and writer.llm is not None:
        worded_list = writer.worded([e for _, e, _ in ok])  # one chat() call for all of them
        share = (time.perf_counter() - start) / len(ok)
        worded = {item.id: (e, s + share) for (item, _, s), e in zip(ok, worded_list, strict=True)}
    else:
        worded = {item.id: (e, s) for item, e, s in ok}
    for item, explanation, seconds in pending:
        if not explanation.ok:
            store.write(
                failure_record(item, explanation.error or "", hashes[item.id], seconds, explanation)
            )
            _count(summary, bar, ok=False)
            continue
        explanation, seconds = worded[item.id]
        begin = time.perf_counter()
        try:
            artifacts = write_artifacts(store, item.id, explanation)
        except OSError as exc:
            message = (
                f"Cannot write the images of '{item.path}' ({type(exc).__name__}); check the disk."
            )
            store.write(failure_record(item, message, hashes[item.id], seconds))
            _count(summary, bar, ok=False)
            continue
        seconds += time.perf_counter() - begin
        store.write(explanation_record(item, explanation, hashes[item.id], seconds, artifacts))
        _count(summary, bar, ok=True)


def _count(summary: BatchSummary, bar: Any, *, ok: bool) -> None:
    if ok:
        summary.done += 1
    else:
        summary.failed += 1
    summary.remaining = max(0, summary.remaining - 1)
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(_postfix(summary), refresh=True)


def _postfix(summary: BatchSummary, stage: str | None = None) -> str:
    text = f"done {summary.done} failed {summary.failed} left {summary.remaining}"
    return f"{text} | {stage[-40:]}" if stage else text


# --------------------------------------------------------------------------- records


def failure_record(
    item: BatchInput,
    error: str,
    digest: str,
    seconds: float,
    explanation: Explanation | None = None,
) -> dict[str, Any]:
    """The record of an input that could not be analysed.

    Args:
        item: The input.
        error: Why, in one sentence.
        digest: Its settings hash.
        seconds: Time spent on it.
        explanation: The pipeline's failure record, when there is one (gives the kind).

    Returns:
        ``{id, input, kind, status: failed, error, settings_hash, seconds}``.
    """
    return {
        "id": item.id,
        "input": item.path,
        "kind": explanation.kind if explanation is not None else None,
        "status": "failed",
        "error": error,
        "settings_hash": digest,
        "seconds": round(float(seconds), 3),
    }


def explanation_record(
    item: BatchInput,
    explanation: Explanation,
    digest: str,
    seconds: float,
    artifacts: list[dict[str, Any]],
) -> dict[str, Any]:
    """An input's result record: the explanation's plus id, hash, time, timeline, PNGs.

    Args:
        item: The input.
        explanation: Its explanation (``ok``).
        digest: Its settings hash.
        seconds: Time spent on it.
        artifacts: The PNGs written for it (:func:`write_artifacts`).

    Returns:
        The JSON-ready record.
    """
    record = explanation.to_record()
    record.update(
        {
            "id": item.id,
            "input": item.path,
            "settings_hash": digest,
            "seconds": round(float(seconds), 3),
            "status": "ok",
        }
    )
    if explanation.kind == "video":
        record["timeline"] = timeline_of(explanation)
    record["artifacts"] = artifacts
    return record


def timeline_of(explanation: Explanation, limit: int = MAX_TIMELINE_POINTS) -> dict[str, Any]:
    """The fused and per-definition score tracks of a video, at most ``limit`` points.

    Returns:
        ``{"times": [...], "fused": [...], "tracks": {definition: [...]}}``.
    """
    fused = explanation.fused
    count = len(fused.times_s)
    picks = (
        np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(np.int64))
        if count
        else np.zeros(0, dtype=np.int64)
    )

    def values(track: Any) -> list[float]:
        data = np.asarray(track.values, dtype=np.float64)
        if len(data) != count:  # a track on other samples: resample onto the fused times
            data = np.interp(fused.times_s, track.times_s, data) if len(data) else data
        return [round(float(v), 5) for v in data[picks]] if len(data) else []

    return {
        "times": [round(float(t), 3) for t in np.asarray(fused.times_s)[picks]],
        "fused": values(fused),
        "tracks": {str(t.definition): values(t) for t in explanation.tracks},
    }


def write_artifacts(
    store: ResultStore, input_id: str, explanation: Explanation
) -> list[dict[str, Any]]:
    """Write an input's keyframe and heat-map overlay PNGs into ``results/<id>/``.

    The folder is built under a temporary name and renamed into place (replacing the
    previous run's); the record, written after it, is what makes it count.

    Returns:
        One entry per PNG: kind (``keyframe`` or ``overlay``), path relative to the batch
        folder, time_s, evidence_id.
    """
    from PIL import Image

    from vlad.answer.render import heat_map_overlay
    from vlad.utils.io import atomic_folder

    target = store.artifact_dir(input_id)
    if not explanation.keyframes:
        if target.is_dir():
            shutil.rmtree(target)  # a previous run's PNGs (results/ is vlad's own)
        return []
    artifacts: list[dict[str, Any]] = []
    relative = Path(target.parent.name) / target.name
    with atomic_folder(target, overwrite=True) as folder:
        for number, keyframe in enumerate(explanation.keyframes, start=1):
            image = Image.fromarray(keyframe.image)
            overlay = None
            if keyframe.overlay is not None:
                overlay = Image.fromarray(keyframe.overlay)
            elif keyframe.anomaly_map is not None:
                overlay = heat_map_overlay(image, keyframe.anomaly_map)
            for kind, picture in (("keyframe", image), ("overlay", overlay)):
                if picture is None:
                    continue
                picture = picture.convert("RGB")
                picture.thumbnail((MAX_PNG_SIDE, MAX_PNG_SIDE))
                name = f"{kind}-{number}.png"
                picture.save(folder / name, format="PNG", compress_level=1)
                artifacts.append(
                    {
                        "kind": kind,
                        "path": (relative / name).as_posix(),
                        "time_s": round(float(keyframe.time_s), 3),
                        "evidence_id": keyframe.evidence_id,
                    }
                )
    return artifacts
