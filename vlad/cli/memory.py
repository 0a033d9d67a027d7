"""``vlad memory build|show|query``: build, inspect and query Flashback caption memories.

Thin: parse, load the embedder, call :mod:`vlad.scoring.memory` or
:mod:`vlad.reasoning.recall`, print. Registered by :func:`add_memory_commands`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vlad.cli.options import add_cache_option, add_llm_option, chat_backend, declare_outputs
from vlad.errors import ConfigError


def add_memory_commands(commands: Any) -> None:
    """Add ``vlad memory build|show|query`` (Flashback-style caption memories).

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    memory = commands.add_parser(
        "memory",
        help="build, inspect and query Flashback caption memories",
        description=(
            "A memory is a folder of normal and anomalous captions with their embeddings; a "
            "query's score is the similarity-weighted share of anomalous captions among its "
            "k nearest (anomalous similarities times alpha)."
        ),
    )
    actions = memory.add_subparsers(
        dest="memory_command", metavar="ACTION", parser_class=type(memory)
    )
    actions.required = True
    build = actions.add_parser(
        "build",
        help="make a memory folder from a caption file, or from an LLM given a scene",
        description=(
            'With --from-captions, each line of FILE is {"text": ..., "label": "normal" or '
            '"anomalous", "category": ... (optional)}. With --scene, an LLM writes normal and '
            "anomalous captions for the scene in rounds (repulsive prompting), until --size "
            "distinct captions or the round budget; lines that echo the prompt, are cut off "
            "or contradict their label are dropped, and the summary counts every dropped "
            "line by reason. The folder is written atomically."
        ),
    )
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-captions",
        type=Path,
        metavar="FILE.jsonl",
        help="caption file, one JSON object per line",
    )
    source.add_argument(
        "--scene", metavar="TEXT", help="the scene the LLM writes captions for (Recall)"
    )
    recall = build.add_argument_group("LLM recall (with --scene)")
    recall.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="TEXT",
        help="an anomalous event of your own, kept as an entry and asked about; repeatable",
    )
    add_llm_option(recall)
    recall.add_argument("--size", type=int, default=200, help="captions wanted")
    recall.add_argument(
        "--rounds", type=int, default=None, help="round budget (default grows with --size)"
    )
    recall.add_argument("--seed", type=int, default=0, help="seed of the first round")
    add_cache_option(recall)
    build.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="memory folder to write"
    )
    build.add_argument(
        "--embedder",
        default="minilm",
        metavar="SPEC",
        help="minilm, st:PATH_OR_NAME or clip:ARCH@WEIGHTS",
    )
    build.add_argument(
        "--alpha",
        type=float,
        default=0.95,
        help="factor on anomalous similarities stored with the memory",
    )
    build.add_argument(
        "--dedup",
        type=float,
        default=0.95,
        metavar="COS",
        help="drop a caption this similar to an earlier one of its label",
    )
    build.add_argument("--no-dedup", action="store_true", help="keep near-duplicate captions")
    build.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    build.add_argument("--force", action="store_true", help="replace an existing DIR")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.set_defaults(handler=_run_memory_build)
    declare_outputs(build, folders=("out",))
    show = actions.add_parser("show", help="counts, embedder and examples of a memory")
    show.add_argument("dir", type=Path, metavar="DIR", help="memory folder")
    show.add_argument("--examples", type=int, default=3, help="example captions per label")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_run_memory_show)
    query = actions.add_parser("query", help="score a text against a memory, with its neighbours")
    query.add_argument("dir", type=Path, metavar="DIR", help="memory folder")
    query.add_argument("--text", required=True, help="the text to score")
    query.add_argument("--k", type=int, default=10, help="neighbours")
    query.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="factor on anomalous similarities (default: the memory's)",
    )
    query.add_argument(
        "--embedder",
        default=None,
        metavar="SPEC",
        help="default: the spec the memory was built with",
    )
    query.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.set_defaults(handler=_run_memory_query)


def _run_memory_build(args: argparse.Namespace) -> int:
    from vlad.encoders.text import load_embedder
    from vlad.scoring.memory import build_from_captions, ensure_new_folder, summarize

    if args.scene is None and (args.define or args.llm or args.rounds is not None):
        raise ConfigError("--define, --llm and --rounds go with --scene, not --from-captions.")
    ensure_new_folder(args.out, overwrite=args.force)  # fail before the long embedding
    embedder = load_embedder(args.embedder, device=args.device)
    if args.scene is not None:
        return _recall_memory(args, embedder)
    index = build_from_captions(
        args.from_captions,
        embedder,
        alpha=args.alpha,
        dedup_threshold=None if args.no_dedup else args.dedup,
        embedder_spec=args.embedder,
        progress=not args.no_progress,
    )
    index.save(args.out, overwrite=args.force)
    summary = summarize(index)
    print(json.dumps(summary, ensure_ascii=False) if args.json else format_summary(summary))
    return 0


def _recall_memory(args: argparse.Namespace, embedder: Any) -> int:
    """``vlad memory build --scene``: the LLM writes the captions (Flashback Recall)."""
    from vlad.reasoning.recall import RecallConfig, build_scene_memory
    from vlad.scoring.memory import summarize

    config = RecallConfig(
        scene=args.scene,
        size=args.size,
        definitions=tuple(args.define),
        max_rounds=args.rounds,
        dedup_threshold=args.dedup if not args.no_dedup else 1.0,
        seed=args.seed,
    )
    backend = chat_backend(args.llm, cache=not args.no_cache)
    index, report = build_scene_memory(
        backend,
        embedder,
        config,
        alpha=args.alpha,
        embedder_spec=args.embedder,
        progress=not args.no_progress,
    )
    index.save(args.out, overwrite=args.force)
    print(f"vlad: {report.summary()}", file=sys.stderr)
    summary = summarize(index)
    if args.json:
        print(json.dumps({**summary, "recall": report.to_dict()}, ensure_ascii=False))
    else:
        print(format_summary(summary))
    return 0


def _run_memory_show(args: argparse.Namespace) -> int:
    from vlad.scoring.memory import MemoryIndex, summarize

    summary = summarize(MemoryIndex.load(args.dir), examples=args.examples)
    print(json.dumps(summary, ensure_ascii=False) if args.json else format_summary(summary))
    return 0


def _run_memory_query(args: argparse.Namespace) -> int:
    from vlad.scoring.memory import MemoryIndex, load_query_embedder, query

    index = MemoryIndex.load(args.dir)
    embedder = load_query_embedder(index, args.embedder, device=args.device)
    [result] = query(index, args.text, embedder, k=args.k, alpha=args.alpha)
    print(json.dumps(result, ensure_ascii=False) if args.json else format_query(result))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of a memory summary, for ``vlad memory show``.

    Args:
        summary: The dict of :func:`vlad.scoring.memory.summarize`.

    Returns:
        Lines of text (no final newline).
    """
    labels = summary["labels"]
    lines = [
        f"memory: {summary['folder'] or '(not saved)'}",
        f"entries: {summary['count']} ({labels['normal']} normal, {labels['anomalous']} "
        f"anomalous; {summary['removed_duplicates']} duplicates removed)",
        f"embedder: {summary['embedder']} (dim {summary['dim']})"
        + (f", spec {summary['embedder_spec']}" if summary["embedder_spec"] else ""),
        f"alpha: {summary['alpha']}",
        f"search: {'FAISS ' + summary['ann']['factory'] if summary['ann'] else 'exact'}",
        f"created: {summary['created']} by vlad {summary['vlad_version']}",
        "categories:",
    ]
    for category, counts in summary["categories"].items():
        lines.append(f"  {category}: {counts['normal']} normal, {counts['anomalous']} anomalous")
    for label, texts in summary["examples"].items():
        lines.append(f"{label} examples:")
        lines.extend(f"  - {text}" for text in texts)
    return "\n".join(lines)


def format_query(result: dict[str, Any]) -> str:
    """Human-readable text of one query result, for ``vlad memory query``.

    Args:
        result: One dict of :func:`vlad.scoring.memory.query`.

    Returns:
        Lines of text (no final newline).
    """
    lines = [
        f"score {result['score']:.3f}  (k={result['k']}, alpha={result['alpha']})  {result['text']}"
    ]
    for rank, n in enumerate(result["neighbors"], 1):
        lines.append(
            f"  {rank:2d}. {n['label']:<9} sim {n['similarity']:.3f}  weight {n['weight']:.2f}  "
            f"{n['text']}"
        )
    return "\n".join(lines)
