"""The Ray engine of ``vlad batch`` (``--engine ray``): the same work as a Ray Data pipeline.

:func:`run_ray` explains the same inputs into the same :class:`ResultStore` folder as
:func:`~vlad.runners.batch.local.run_local`, with the same skip, retry and atomic-write
rules, but spreads them over the actors of a Ray cluster (a local one by default, or the
cluster at ``address``)::

    inputs not yet done (decided on the driver, before dispatch)
      -> ray.data.from_items(chunks)      a chunk: inputs sharing per-row options
      -> map_batches(_ExplainActor)       one Pipeline per actor, models loaded once per
                                          actor (GPU actors with gpus_per_worker): decode,
                                          CLIP-encode, score, word the texts, write
      [-> ray.data.llm vLLM processor -> map_batches(_StoreActor)]   vllm: with ray.data.llm
      -> the driver counts what comes back (progress bar, summary)

**Who writes: the workers, into DIR on storage every node sees.** Each actor runs the
local engine's own group code (:func:`~vlad.runners.batch.local.explain_group` and
:func:`~vlad.runners.batch.local.store_results`), so an input's PNGs and then its record
are written by the worker that explained it, atomically (temporary name + rename), and its
index line is one ``O_APPEND`` write. Why not gather on the driver: the workers read the
inputs by path already, so a real cluster needs shared storage for the inputs anyway; the
keyframe and overlay PNGs (the bulk of a result) then never cross the network twice nor
pass through the driver and the object store; and a killed driver loses only the inputs
in flight, while everything the workers finished is on disk. The driver receives one small
row per input (id, status) for the progress bar. On a real cluster ``DIR`` must therefore
be a path that is the same shared folder (NFS, a cluster file system) on every node.

**The language model** (``llm``):

- ``none``: texts from the evidence template, no model;
- ``vllm:MODEL`` when the installed Ray has :mod:`ray.data.llm` and vLLM is installed: the
  texts are a separate stage, Ray Data's vLLM processor (``llm_replicas`` engine replicas,
  one GPU each), between the explaining actors (which then hold no language model) and
  storing actors that check each answer and write the record;
- any other spec (``openai:URL#MODEL``, ``offline``, ``transformers:``, ``gguf:``, or
  ``vllm:`` without ``ray.data.llm``): each explaining actor holds the backend and asks it
  one ``chat()`` per batch of inputs, as the local engine does (an ``openai:`` server is
  shared by all actors; a ``vllm:`` engine lives in each GPU actor).

Answers held by actors go through the answer cache of each node (one SQLite file that the
actors of a node share), as in the local engine. A resumed run asks nothing for the inputs
already stored, whichever path words them: they are skipped before dispatch.
"""

from __future__ import annotations

import logging
import math
import pickle
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from vlad.errors import ConfigError
from vlad.runners.batch.inputs import BatchInput
from vlad.runners.batch.local import (
    BatchOptions,
    BatchSummary,
    explain_group,
    group_inputs,
    prepare_run,
    store_results,
)
from vlad.runners.batch.store import ResultStore
from vlad.utils.extras import require_extra
from vlad.utils.messages import one_line

if TYPE_CHECKING:
    from vlad.config import PipelineConfig

__all__ = ["RayPlan", "plan_chunks", "require_ray", "run_ray", "uses_ray_llm"]

log = logging.getLogger(__name__)

FEATURE = "vlad batch --engine ray"


@dataclass(frozen=True)
class RayPlan:
    """How a run is laid out on the cluster (decided on the driver).

    Attributes:
        actors: Explaining actors (each loads the models once).
        cpus_per_actor: CPUs each actor reserves (its torch threads).
        gpus_per_actor: GPUs each actor reserves (0: CPU actors).
        ray_llm: Whether the texts are a separate ``ray.data.llm`` vLLM stage.
    """

    actors: int
    cpus_per_actor: float
    gpus_per_actor: float
    ray_llm: bool


def uses_ray_llm(llm: str | None) -> bool:
    """Whether texts would run as Ray Data's vLLM processor: a ``vllm:`` spec, both installed.

    Args:
        llm: The chat backend spec.

    Returns:
        True for ``vllm:MODEL`` when :mod:`ray.data.llm` and vLLM can be imported.
    """
    from vlad.utils.extras import has_module

    if not llm or not llm.strip().lower().startswith("vllm:"):
        return False
    return has_module("vllm") and has_module("ray.data.llm")


def plan_chunks(
    groups: Sequence[tuple[dict[str, Any], list[BatchInput]]], *, actors: int, most: int
) -> list[tuple[dict[str, Any], list[BatchInput]]]:
    """Cut option groups into chunks, one per task of an actor.

    A chunk shares one pipeline call (images batched, texts asked in one ``chat()``), so
    bigger is cheaper per input; smaller spreads the work more evenly. Each group is cut
    into at least two chunks per actor when it has the inputs, and none holds more than
    ``most``.

    Args:
        groups: ``(analysis keyword options, inputs)`` per group of per-row options.
        actors: How many actors share the work.
        most: The largest chunk (the inputs whose texts go in one model call).

    Returns:
        ``(options, inputs)`` per chunk, in input order.

    Example:
        >>> items = [BatchInput(id=str(n), path=f"{n}.png") for n in range(10)]
        >>> [len(c[1]) for c in plan_chunks([({}, items)], actors=2, most=8)]
        [3, 3, 3, 1]
    """
    chunks: list[tuple[dict[str, Any], list[BatchInput]]] = []
    for kwargs, items in groups:
        size = max(1, min(most, math.ceil(len(items) / max(1, 2 * actors))))
        for start in range(0, len(items), size):
            chunks.append((kwargs, items[start : start + size]))
    return chunks


def require_ray() -> None:
    """Raise one sentence naming the ``ray`` extra when Ray is not installed.

    The CLI calls it before the output folder is made or any model is loaded.

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    require_extra("ray", extra="ray", feature=FEATURE, library="Ray")


def run_ray(
    items: Sequence[BatchInput],
    store: ResultStore,
    *,
    config: PipelineConfig,
    run_settings: Mapping[str, Any],
    llm: str | None = None,
    cache: bool = True,
    options: BatchOptions | None = None,
    say: Callable[[str], None] | None = None,
    address: str | None = None,
    gpus_per_worker: float | None = None,
    actors: int | None = None,
    llm_replicas: int = 1,
) -> BatchSummary:
    """Explain every input not already done into the store, on a Ray cluster.

    Takes the arguments of :func:`~vlad.runners.batch.local.run_local` and writes the same
    records; inputs already done with these settings are skipped on the driver, before
    anything is sent to the cluster.

    Args:
        items: The inputs (from :func:`~vlad.runners.batch.inputs.expand_inputs`).
        store: The opened output folder; on a cluster of several machines a shared folder
            that every node sees at the same path.
        config: The pipeline settings (its ``llm`` is ignored: see ``llm``).
        run_settings: The settings that decide results (hashed with each input's own).
        llm: The chat backend spec that words the texts (None or ``none``: the template).
        cache: Answer repeated prompts from the answer cache.
        options: How the run works (``workers`` is each actor's read-ahead).
        say: Prints one line for a person (default: the log).
        address: The cluster to join (``HEAD_IP:6379``). None: the one this process is
            connected to already, else ``$RAY_ADDRESS``, else the cluster that ``ray start``
            started on this machine, else a new local cluster (stopped at the end).
        gpus_per_worker: GPUs each explaining actor reserves (a fraction shares a GPU);
            None: CPU actors.
        actors: How many explaining actors (None: the cluster's GPUs divided by
            ``gpus_per_worker``, else one per CPU; never more than the inputs).
        llm_replicas: vLLM engine replicas of the ``ray.data.llm`` stage.

    Returns:
        The summary, as :func:`~vlad.runners.batch.local.run_local` gives it; on Ctrl-C
        with ``interrupted`` set (what the workers finished is stored).

    Raises:
        MissingDependencyError: Ray is not installed (before any work).
        ConfigError: A setting the cluster cannot serve (GPUs it does not have), before
            any input is sent.
    """
    require_ray()
    if gpus_per_worker is not None and not gpus_per_worker > 0:
        raise ConfigError(
            f"gpus_per_worker must be a positive number of GPUs, got {gpus_per_worker:g}.",
            param="gpus_per_worker",
        )
    if actors is not None and actors < 1:
        raise ConfigError(f"actors must be at least 1, got {actors}.", param="actors")
    if llm_replicas < 1:
        raise ConfigError(
            f"llm_replicas must be at least 1, got {llm_replicas}.", param="llm_replicas"
        )
    import ray

    options = options or BatchOptions()
    started = time.perf_counter()
    summary, hashes, runnable = prepare_run(
        items, store, run_settings=run_settings, options=options, say=say
    )
    failed_before = summary.failed  # inputs that could not run, recorded already
    joined = False
    try:
        if runnable:
            joined = _join(address)
            plan = _plan(ray, llm, gpus_per_worker, actors, len(runnable))
            chunks = plan_chunks(
                group_inputs(runnable, options), actors=plan.actors, most=max(1, options.llm_batch)
            )
            _execute(
                chunks, store, hashes, config, llm, cache, options, plan, llm_replicas, summary
            )
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if joined:
            ray.shutdown()
        _reconcile(summary, store, runnable, hashes, failed_before)
        store.rebuild_index()
        counts = store.summary()
        summary.ok_total, summary.failed_total = counts["ok"], counts["failed"]
        summary.seconds = time.perf_counter() - started
    return summary


def _reconcile(
    summary: BatchSummary,
    store: ResultStore,
    runnable: Sequence[BatchInput],
    hashes: Mapping[str, str],
    failed_before: int,
) -> None:
    """Done, failed and remaining from the records the workers wrote (the commit points)."""
    states = [store.state(item.id, hashes[item.id]) for item in runnable]
    summary.done = states.count("done")
    summary.failed = failed_before + states.count("failed")
    summary.remaining = len(runnable) - states.count("done") - states.count("failed")


# --------------------------------------------------------------------------- cluster


def _join(address: str | None) -> bool:
    """Connect to Ray unless this process already is; True when this call connected."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except Exception as exc:  # Ray raises a bare Exception when its start-up times out
        reason = f"{type(exc).__name__}: {one_line(str(exc))}"
        if address:
            message = (
                f"Cannot join the Ray cluster at '{address}' ({reason}); check the address "
                "and that its head is running (ray start --head)."
            )
        else:
            message = (
                f"Cannot start or join a Ray cluster on this machine ({reason}); start one "
                "with 'ray start --head' and run again."
            )
        raise ConfigError(message, param="address") from exc
    return True


def _quiet_data() -> None:
    """Ray Data's own bars and logs off: the driver shows one bar over the inputs."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _plan(
    ray: Any, llm: str | None, gpus_per_worker: float | None, actors: int | None, work: int
) -> RayPlan:
    """Actors and their resources, from the cluster's CPUs and GPUs."""
    resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 1.0))
    gpus = float(resources.get("GPU", 0.0))
    if gpus_per_worker is not None and gpus < gpus_per_worker:
        raise ConfigError(
            f"gpus_per_worker {gpus_per_worker:g} asks each worker for GPUs, but the Ray "
            f"cluster has {gpus:g}; leave it out for CPU workers, or join a cluster with "
            "GPU nodes.",
            param="gpus_per_worker",
        )
    if actors is None:
        actors = int(gpus // gpus_per_worker) if gpus_per_worker is not None else int(cpus)
    return RayPlan(
        actors=max(1, min(actors, work)),
        cpus_per_actor=1.0,
        gpus_per_actor=float(gpus_per_worker or 0.0),
        ray_llm=uses_ray_llm(llm),
    )


# --------------------------------------------------------------------------- dataset


def _execute(
    chunks: list[tuple[dict[str, Any], list[BatchInput]]],
    store: ResultStore,
    hashes: Mapping[str, str],
    config: PipelineConfig,
    llm: str | None,
    cache: bool,
    options: BatchOptions,
    plan: RayPlan,
    llm_replicas: int,
    summary: BatchSummary,
) -> None:
    """Build the Ray Data pipeline and count its rows on the driver as they come back."""
    import ray.data
    from tqdm import tqdm

    _quiet_data()
    rows = [
        {"payload": pickle.dumps((kwargs, items, {i.id: hashes[i.id] for i in items}))}
        for kwargs, items in chunks
    ]
    settings = {
        "config": config,
        "llm": None if plan.ray_llm else llm,
        "cache": cache,
        "options": replace(options, progress=False),
        "out_dir": str(store.root),
        "defer_texts": plan.ray_llm,
    }
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        _ExplainActor,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus_per_actor,
        num_gpus=plan.gpus_per_actor or None,
        fn_constructor_kwargs={"settings": settings},
    )
    if plan.ray_llm:
        dataset = _with_ray_llm(dataset, settings | {"llm": llm}, llm or "", llm_replicas)
    total = sum(len(items) for _, items in chunks)
    bar = tqdm(
        total=total,
        unit="input",
        desc="vlad batch (ray)",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not options.progress,
    )
    left = total
    try:
        for row in dataset.iter_rows():
            left -= 1
            if row["status"] == "ok":
                summary.done += 1
            else:
                summary.failed += 1
            summary.llm_conversations += int(row["llm_conversations"])
            summary.llm_invocations += int(row["llm_invocations"])
            summary.llm_cached += int(row["llm_cached"])
            bar.update(1)
            bar.set_postfix_str(
                f"done {summary.done} failed {summary.failed} left {left}", refresh=True
            )
        bar.update(left)  # with ray.data.llm, failures are stored before the model stage
    finally:
        bar.close()


def _with_ray_llm(dataset: Any, settings: dict[str, Any], llm: str, replicas: int) -> Any:
    """Texts as Ray Data's vLLM processor, then storing actors that check and write."""
    import ray.data
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from vlad.pipeline.summary import AnswerPrompts

    prompts = AnswerPrompts.load(settings["config"].answer_prompts)
    options: BatchOptions = settings["options"]
    tokens = prompts.max_new_tokens

    def ask(row: dict[str, Any]) -> dict[str, Any]:
        return {
            **row,
            "messages": pickle.loads(row["messages"]),
            "sampling_params": {"temperature": 0.0, "max_tokens": tokens},
        }

    def answer(row: dict[str, Any]) -> dict[str, Any]:
        return {"payload": row["payload"], "answer": row.get("generated_text") or ""}

    processor = build_processor(
        vLLMEngineProcessorConfig(
            model_source=llm.split(":", 1)[1].strip(),
            concurrency=replicas,
            batch_size=max(1, options.llm_batch),
        ),
        preprocess=ask,
        postprocess=answer,
    )
    return processor(dataset).map_batches(
        _StoreActor,
        batch_size=max(1, options.llm_batch),
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
        fn_constructor_kwargs={"settings": settings},
    )


# --------------------------------------------------------------------------- actors


class _ExplainActor:
    """A Ray actor: one pipeline (models loaded once), the local engine's group code per chunk.

    With ``defer_texts`` the texts are left to the ``ray.data.llm`` stage: failures are
    stored here, explained inputs go on as rows (pickled, with their conversation).
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        from vlad.pipeline import Pipeline
        from vlad.runners.batch.local import make_writer

        config: PipelineConfig = settings["config"]
        self.options: BatchOptions = settings["options"]
        self.store = ResultStore(settings["out_dir"])
        self.defer = bool(settings["defer_texts"])
        self.pipeline = Pipeline.from_config(replace(config, llm=None))
        self.counter, self.writer = make_writer(config, settings["llm"], settings["cache"])

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Explain the chunks of a batch and store each input; one row per input back."""
        names = ("payload", "messages") if self.defer else _ROW
        out: dict[str, list[Any]] = {name: [] for name in names}
        for payload in batch["payload"]:
            kwargs, items, hashes = pickle.loads(payload)
            most = max(1, self.options.llm_batch) if self.writer.llm is not None else 1
            pending: list[Any] = []
            stream = explain_group(self.pipeline, kwargs, items, workers=self.options.workers)
            for done in stream:
                item, explanation, seconds = done
                if self.defer and explanation.ok:
                    conversation = self.writer.summary_conversation(explanation)
                    out["payload"].append(pickle.dumps((item, explanation, seconds, hashes)))
                    out["messages"].append(pickle.dumps(conversation))
                    continue
                pending.append(done)
                if len(pending) >= most:
                    self._store(pending, hashes, out)
                    pending = []
            self._store(pending, hashes, out)
        return out

    def _store(
        self, pending: list[Any], hashes: Mapping[str, str], out: dict[str, list[Any]]
    ) -> None:
        """The local engine's store step (one ``chat()`` for the texts), then a row per input."""
        if not pending:
            return
        before = self._llm_counts()
        summary = BatchSummary(total=len(pending), remaining=len(pending))
        store_results(pending, self.writer, self.store, hashes, summary)
        after = self._llm_counts()
        for position, (item, _, _) in enumerate(pending):
            if self.defer:  # only failures are stored here; their rows stop in the next stage
                continue
            state = self.store.state(item.id, hashes[item.id])
            out["id"].append(item.id)
            out["status"].append("ok" if state == "done" else "failed")
            first = position == 0  # the call's counts go with its first input
            for name, old, new in zip(_ROW[2:], before, after, strict=True):
                out[name].append(new - old if first else 0)

    def _llm_counts(self) -> tuple[int, int, int]:
        if self.counter is None:
            return (0, 0, 0)
        hits = int(getattr(self.writer.llm, "hits", 0))
        return (self.counter.conversations, self.counter.invocations, hits)


_ROW = ("id", "status", "llm_conversations", "llm_invocations", "llm_cached")


class _StoreActor:
    """Checks the vLLM stage's answers and writes each input's PNGs and record."""

    def __init__(self, settings: dict[str, Any]) -> None:
        from vlad.pipeline.summary import AnswerPrompts, AnswerWriter

        self.store = ResultStore(settings["out_dir"])
        prompts = AnswerPrompts.load(settings["config"].answer_prompts)
        self.writer = AnswerWriter(None, prompts)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Ground each answer (template when it fails the checks), then store the input."""
        out: dict[str, list[Any]] = {name: [] for name in _ROW}
        for payload, answer in zip(batch["payload"], batch["answer"], strict=True):
            item, explanation, seconds, hashes = pickle.loads(payload)
            worded = self.writer.check(explanation, str(answer) or None).apply(explanation)
            summary = BatchSummary(total=1, remaining=1)
            store_results([(item, worded, seconds)], self.writer, self.store, hashes, summary)
            out["id"].append(item.id)
            out["status"].append("ok" if summary.done else "failed")
            for name in _ROW[2:]:
                out[name].append(1 if name == "llm_conversations" else 0)
        return out
