"""``vlad batch``: explain many images and videos into one resumable output folder.

Thin: parse, check the output folder, expand the inputs, call an engine
(:func:`vlad.runners.batch.local.run_local`, or the Ray engine), write the report, print the
summary. Every scoring option of ``vlad detect`` applies (its options are reused, not
declared twice). Exit status: 0 when every input was explained, 1 when some failed (the
others are stored), 2 when nothing could run, 130 when stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130

#: Options of ``vlad detect`` that are about its printed output, not about scoring.
_DETECT_ONLY = {"help", "paths", "json", "map_out", "plot", "no_progress", "config"}


def add_batch_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``vlad batch`` to the subcommands, with every scoring option of ``vlad detect``.

    Call it after ``vlad detect`` (and ``vlad rules``, which adds ``--rules``/``--vlm``
    to it) are registered.

    Args:
        commands: The subparsers object of the ``vlad`` parser.

    Returns:
        The ``batch`` parser.
    """
    from vlad.cli.options import add_cache_option, add_llm_option, declare_outputs

    batch = commands.add_parser(
        "batch",
        help="explain many images and videos into a folder: resumable, with an HTML report",
        description=(
            "Explain every input (files, folders walked recursively, glob patterns, frame "
            "folders with --frames-fps, or the rows of --manifest) into DIR: "
            "results/<id>.json with keyframes and heat maps under results/<id>/, "
            "index.jsonl, errors.jsonl, run.yaml and report.html. Rerunning the same "
            "command skips what is done; a changed setting re-runs."
        ),
    )
    batch.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="image or video files, folders (walked recursively) or glob patterns (quote them)",
    )
    batch.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    batch.add_argument(
        "--manifest",
        type=Path,
        metavar="FILE",
        help="CSV or JSON Lines file, one row per input: path (required), and optional id, "
        "definitions ('|'-separated in CSV), scene, rules, memory",
    )
    batch.add_argument(
        "--scene", default=None, metavar="TEXT", help="what the cameras show (rows may override)"
    )
    copy_detect_options(commands, batch)
    run = batch.add_argument_group("run")
    add_workers_option(run)
    run.add_argument(
        "--retry-failed", action="store_true", help="analyse again the inputs that failed before"
    )
    run.add_argument(
        "--report",
        action="append",
        choices=("html", "md"),
        default=[],
        help="report formats besides report.html (md: report.md too); repeatable",
    )
    add_llm_option(
        run,
        default="none",
        help="chat model that words the texts: none (the evidence template), offline, "
        "transformers:NAME, gguf:FILE, openai:URL#MODEL or vllm:MODEL",
    )
    add_cache_option(run)
    run.add_argument(
        "--llm-batch",
        type=int,
        default=8,
        metavar="N",
        help="inputs whose texts go to the language model in one call",
    )
    run.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="where the work runs"
    )
    run.add_argument(
        "--ray-address", default=None, metavar="ADDR", help="Ray cluster head (--engine ray)"
    )
    run.add_argument(
        "--gpus-per-worker",
        type=float,
        default=None,
        metavar="G",
        help="GPUs per encoding actor (--engine ray)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    batch.set_defaults(handler=run_batch)
    declare_outputs(batch, folders=("out",))
    return batch


def copy_detect_options(commands: Any, batch: argparse.ArgumentParser) -> None:
    """Give ``batch`` the scoring options of ``vlad detect`` (copies, in their groups).

    Args:
        commands: The subparsers action of the ``vlad`` parser (holds ``detect``).
        batch: The parser that takes them (``vlad batch``, ``vlad eval images|videos``).
    """
    detect = commands.choices["detect"]
    for group in detect._action_groups:
        actions = [a for a in group._group_actions if a.dest not in _DETECT_ONLY]
        if not actions:
            continue
        default_group = group.title in ("options", "optional arguments", "positional arguments")
        target = batch if default_group else batch.add_argument_group(group.title)
        for action in actions:
            target._add_action(copy.copy(action))


def add_workers_option(group: Any) -> None:
    """Add ``--workers N``: inputs analysed ahead of the one being written.

    Args:
        group: The parser or argument group (the "run" group of each command).
    """
    group.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="inputs decoded and encoded ahead of the one being written (0: in turn)",
    )


def run_batch(args: argparse.Namespace) -> int:
    """Run ``vlad batch`` with parsed options; return the exit status."""
    from vlad.cli.detect import _for_cli, pipeline_config
    from vlad.errors import ConfigError, VladError
    from vlad.runners.batch.inputs import expand_inputs
    from vlad.runners.batch.local import BatchOptions
    from vlad.runners.batch.store import ResultStore, check_out_dir

    check_out_dir(args.out, param="out")  # before any model is loaded
    if args.engine == "ray":
        from vlad.runners.batch.ray_engine import require_ray

        require_ray()  # a missing extra is named before the folder is made
    if not args.inputs and args.manifest is None:
        raise ConfigError("Nothing to explain; give INPUT paths or --manifest FILE.")
    for name, least in (("workers", 0), ("llm_batch", 1)):
        value = getattr(args, name)
        if value < least:
            raise ConfigError(f"{name} must be a whole number >= {least}, got {value}.", param=name)
    rules_file = getattr(args, "rules", None)
    vlm = getattr(args, "vlm", None)
    if vlm and rules_file is None:
        raise ConfigError("--vlm describes the frames that rules cite; add --rules FILE.")
    if args.engine != "ray" and (args.ray_address or args.gpus_per_worker is not None):
        raise ConfigError("--ray-address and --gpus-per-worker need --engine ray.")
    config, references = pipeline_config(args)
    items = expand_inputs(args.inputs, manifest=args.manifest, frames_fps=args.frames_fps)
    if not items:
        raise ConfigError("The manifest holds no rows; add one row per input.", param="manifest")
    captioner = None
    if vlm:
        from vlad.cli.rules import frame_captioner

        captioner = frame_captioner(vlm, prompt=args.perception_prompt)
    options = BatchOptions(
        retry_failed=args.retry_failed,
        workers=args.workers,
        llm_batch=args.llm_batch,
        progress=not args.no_progress,
        references=tuple(str(p) for p in references),
        scene=args.scene,
        rules=str(rules_file) if rules_file is not None else None,
        memory=str(args.memory) if args.memory is not None else None,
        captioner=captioner,
    )
    store = ResultStore(args.out).open()
    settings = run_settings(config, args, references)
    engine = _engine(args)
    try:
        summary = engine(
            items,
            store,
            config=config,
            run_settings=settings,
            llm=args.llm,
            cache=not args.no_cache,
            options=options,
            say=_say,
            **(
                {"address": args.ray_address, "gpus_per_worker": args.gpus_per_worker}
                if args.engine == "ray"
                else {}
            ),
        )
    except VladError as exc:
        raise _for_cli(exc) from exc
    if summary.interrupted:
        print(
            f"vlad: stopped: {summary.line()}; rerun the same command to finish the rest.",
            file=sys.stderr,
        )
        _exit_if_threads_busy()
        return EXIT_INTERRUPTED
    _write_report(args.out, store, args.report)
    print(f"vlad: {summary.line()}; results in {args.out}", file=sys.stderr)
    if summary.llm_invocations:
        print(
            f"vlad: the language model answered {summary.llm_conversations} text(s) in "
            f"{summary.llm_invocations} call(s); {summary.llm_cached} came from the cache.",
            file=sys.stderr,
        )
    states = [store.load(item.id) for item in items]
    ok = sum(1 for record in states if record is not None and record.get("status") == "ok")
    if ok == len(items):
        return EXIT_OK
    return EXIT_INPUT_FAILED if ok else EXIT_UNUSABLE


def run_settings(config: Any, args: argparse.Namespace, references: list[Path]) -> dict[str, Any]:
    """The settings that decide each result (hashed: a change re-runs the inputs).

    How the run works (workers, batch sizes, device ids, progress) is left out.

    Args:
        config: The pipeline settings.
        args: The parsed options.
        references: The reference images.

    Returns:
        A JSON-ready mapping.
    """
    from vlad.runners.batch.inputs import BatchInput
    from vlad.utils.runinfo import plain

    settings = plain(config)
    settings.pop("batch_size", None)
    if isinstance(settings.get("video"), dict):
        settings["video"].pop("batch_size", None)
    if (settings.get("perception") or {}).get("mode") == "peak":  # the default: hashes as before
        settings.pop("perception", None)
    stamps = BatchInput(
        id="run",
        path="",
        rules=str(args.rules) if getattr(args, "rules", None) else None,
        memory=str(args.memory) if args.memory is not None else None,
    ).row_settings()
    stamps.pop("input", None)
    settings.update(
        {
            "llm": args.llm,
            "answer_prompts": getattr(config, "answer_prompts", None),
            "scene": args.scene,
            "vlm": getattr(args, "vlm", None),
            "references": [str(p) for p in references],
            "files": stamps,
        }
    )
    return settings


def _engine(args: argparse.Namespace) -> Any:
    if args.engine == "ray":
        from vlad.runners.batch.ray_engine import run_ray

        return run_ray
    from vlad.runners.batch.local import run_local

    return run_local


def _write_report(out: Path, store: Any, extra: list[str]) -> None:
    from vlad.errors import VladError

    formats = ["html", *[f for f in extra if f != "html"]]
    try:
        from vlad.answer.report import write_report
    except ImportError as exc:  # the report module is part of vlad; a broken install says so
        print(f"vlad: no report written ({exc}).", file=sys.stderr)
        return
    try:
        written = write_report(out, store.records(), formats=tuple(dict.fromkeys(formats)))
    except (VladError, OSError) as exc:
        print(f"vlad: the report could not be written: {exc}", file=sys.stderr)
        return
    for path in written:
        print(f"vlad: wrote {path}", file=sys.stderr)


def _exit_if_threads_busy() -> None:
    """After Ctrl-C, exit at once when a decoding or encoding thread is still mid-input.

    Its work is discarded anyway (every file stored is complete: only the main thread
    writes), and a thread inside a model call could hold the interpreter's exit for minutes.
    """
    import os
    import threading

    if any(t.name == "vlad-prefetch" and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


def _say(text: str) -> None:
    print(f"vlad: {text}", file=sys.stderr)
