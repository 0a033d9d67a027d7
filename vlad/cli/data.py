"""``vlad data prepare`` and ``vlad data info``: benchmark layouts -> manifests, and sources.

Thin: parse, call :func:`vlad.data.registry.prepare`, write the manifest, print a summary.
Registered by :func:`add_data_commands`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vlad.cli.options import declare_outputs
from vlad.data.registry import BENCHMARKS


def add_data_commands(commands: Any) -> None:
    """Add ``vlad data prepare`` and ``vlad data info`` to the ``vlad`` command's subparsers.

    Args:
        commands: The subparsers action of the ``vlad`` parser.
    """
    data = commands.add_parser(
        "data",
        help="read a downloaded benchmark into a manifest; where to get benchmarks",
        description="Turn a benchmark you downloaded into vlad's manifest (JSON Lines), or "
        "say where to get a benchmark and under which licence. vlad never downloads data.",
    )
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(data))
    actions.required = True
    prepare = actions.add_parser(
        "prepare",
        help="read a benchmark's own layout; write a manifest and print a summary",
        description="Read a benchmark in its published layout (see `vlad data info NAME`) and "
        "write one JSON line per input: id, path, kind, fps, split, category, label, mask, "
        "frames, anomalous intervals, source. Prints counts per split and category and the "
        "anomalous share.",
    )
    prepare.add_argument("name", choices=tuple(BENCHMARKS), metavar="NAME", help="benchmark")
    prepare.add_argument(
        "--root", required=True, type=Path, metavar="DIR", help="the benchmark's folder"
    )
    prepare.add_argument(
        "--out", required=True, type=Path, metavar="FILE.jsonl", help="manifest to write"
    )
    prepare.add_argument(
        "--category",
        dest="categories",
        action="append",
        default=None,
        metavar="NAME",
        help="mvtec, visa: only this category (repeatable; default: all)",
    )
    prepare.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help="anomalyruler: the caption dataset folder (ped2, avenue, shanghaitech)",
    )
    prepare.add_argument(
        "--split-file",
        default=None,
        metavar="PATH",
        help="visa: split file relative to the root (default: split_csv/1cls.csv)",
    )
    prepare.add_argument(
        "--split-dir",
        default=None,
        metavar="PATH",
        help="ubnormal: folder of the split lists relative to the root (default: scripts)",
    )
    prepare.add_argument("--json", action="store_true", help="print the summary as JSON")
    prepare.set_defaults(handler=run_prepare)
    declare_outputs(prepare, files=("out",))

    info = actions.add_parser(
        "info",
        help="where to get a benchmark, its licence and the layout vlad reads",
        description="Print where to get a benchmark, its licence and the layout "
        "`vlad data prepare` expects; without NAME, one line per benchmark.",
    )
    info.add_argument(
        "name",
        nargs="?",
        default=None,
        choices=(*BENCHMARKS, None),
        metavar="NAME",
        help="benchmark (default: list them all)",
    )
    info.set_defaults(handler=run_info)


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``vlad data prepare``; return the exit status."""
    from vlad.data.manifest import summarize, write_manifest
    from vlad.data.registry import prepare
    from vlad.errors import ConfigError

    if args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name ending in .jsonl.")
    records = prepare(
        args.name,
        args.root,
        categories=args.categories,
        dataset=args.dataset,
        split_file=args.split_file,
        split_dir=args.split_dir,
    )
    write_manifest(args.out, records)
    summary = summarize(records)
    figures = {
        "benchmark": args.name,
        "manifest": str(args.out),
        "records": summary.records,
        "splits": summary.by_split,
        "categories": summary.by_category,
        "anomalous": summary.anomalous,
        "labelled": summary.labelled,
        "anomalous_share": summary.anomalous_share,
        "frames": summary.frames,
        "anomalous_frames": summary.anomalous_frames,
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(format_summary(figures))
    return 0


def format_summary(figures: dict[str, Any]) -> str:
    """The summary of a prepared manifest as lines for people."""

    def counts(table: dict[str, int]) -> str:
        return ", ".join(f"{name or '-'} {count}" for name, count in table.items())

    share = figures["anomalous_share"]
    lines = [
        f"wrote {figures['manifest']}: {figures['records']} {figures['benchmark']} records",
        f"splits      {counts(figures['splits'])}",
        f"categories  {counts(figures['categories'])}",
        f"anomalous   {figures['anomalous']} of {figures['labelled']} labelled"
        + ("" if share is None else f" ({share:.1%})"),
    ]
    if figures["frames"]:
        frame_share = figures["anomalous_frames"] / figures["frames"]
        lines.append(
            f"frames      {figures['frames']}, {figures['anomalous_frames']} anomalous "
            f"({frame_share:.1%})"
        )
    return "\n".join(lines)


def run_info(args: argparse.Namespace) -> int:
    """Run ``vlad data info``; return the exit status."""
    if args.name is None:
        width = max(len(name) for name in BENCHMARKS)
        for name, entry in BENCHMARKS.items():
            print(f"{name:<{width}}  {entry.title}: {entry.licence}")
        return 0
    entry = BENCHMARKS[args.name]
    print(f"{entry.title} ({entry.name})")
    print(f"get it      {entry.url}")
    print(f"licence     {entry.licence}")
    print(f"layout      {entry.layout}")
    if entry.options:
        print(f"options     {', '.join(entry.options)}")
    return 0
