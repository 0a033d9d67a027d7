"""``vlad eval run CONFIG`` and ``vlad eval table RESULTS...``: vlad beside the papers.

``vlad eval run eval/NAME.yaml`` reads a config (``benchmark``, ``command``: images, videos
or captions, ``args``: the long flags of ``vlad eval COMMAND``), runs that command in-process
with ``--out``, then prints the table of its figures beside the published ones of
``eval/anchors.yaml``. ``vlad eval table`` prints that table for results already written.
Registered by :func:`add_eval_suite_commands` (from :mod:`vlad.cli.eval`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlad.cli.options import declare_outputs
from vlad.errors import ConfigError

COMMANDS: tuple[str, ...] = ("images", "videos", "captions")
"""The ``vlad eval`` commands a config may run."""

CONFIG_KEYS: tuple[str, ...] = ("benchmark", "command", "args", "description")
RESERVED: tuple[str, ...] = ("out", "results", "json")
"""Flags ``vlad eval run`` sets itself."""

PATH_ARGS: tuple[str, ...] = ("manifest", "root", "rules")
"""Args naming an input that must exist before the run starts."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SuiteConfig:
    """One ``eval/NAME.yaml``.

    Attributes:
        path: The file.
        benchmark: The benchmark's name (the anchors it is printed beside).
        command: ``images``, ``videos`` or ``captions``.
        args: Long flag (without ``--``) -> value, environment variables expanded.
        description: One line for people, "" when none.
    """

    path: Path
    benchmark: str
    command: str
    args: dict[str, Any]
    description: str = ""

    def argv(self, out: Path) -> list[str]:
        """The ``vlad`` command line of this config, writing under ``out``."""
        argv = ["eval", self.command]
        for key, value in self.args.items():
            flag = "--" + key
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item is True:
                    argv.append(flag)
                elif item is not False:
                    argv += [flag, str(item)]
        if self.command == "captions":
            argv += ["--out", str(out / "frames.jsonl"), "--results", str(out / "results.json")]
        else:
            argv += ["--out", str(out)]
        return argv


def load_suite_config(path: str | Path) -> SuiteConfig:
    """Read and check an evaluation config.

    Args:
        path: The YAML file.

    Returns:
        The config, with ``${VAR}`` in its values replaced from the environment.

    Raises:
        ConfigError: One sentence naming the file and what to fix: not YAML, an unknown or
            missing key, an unknown command, a flag ``vlad eval run`` sets itself, an
            environment variable not set, an input path that does not exist.
    """
    from vlad.config import load_yaml

    path = Path(path)
    data = load_yaml(path)
    unknown = [k for k in data if k not in CONFIG_KEYS]
    if unknown:
        raise ConfigError(
            f"Eval config '{path}' has unknown key '{unknown[0]}'; use {', '.join(CONFIG_KEYS)}."
        )
    for key in ("benchmark", "command"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"Eval config '{path}' needs '{key}' (text); see eval/README.md.")
    command = data["command"]
    if command not in COMMANDS:
        raise ConfigError(
            f"Eval config '{path}' has command '{command}'; use one of {', '.join(COMMANDS)}."
        )
    raw = data.get("args") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'args' of eval config '{path}' must be a mapping of flag: value.")
    args: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).removeprefix("--")
        if name in RESERVED:
            raise ConfigError(
                f"Eval config '{path}' sets --{name}, which vlad eval run sets itself; remove "
                "it (give --out to vlad eval run instead)."
            )
        args[name] = _value(value, path=path, name=name)
    for name in PATH_ARGS:
        if name in args and not isinstance(args[name], list) and not Path(args[name]).exists():
            hint = (
                f"prepare it with `vlad data prepare {data['benchmark']} --root DIR --out "
                f"{args[name]}`"
                if name == "manifest"
                else "check the path (relative paths are read from the folder you run in)"
            )
            raise ConfigError(
                f"--{name} '{args[name]}' of eval config '{path}' does not exist; {hint}."
            )
    description = data.get("description") or ""
    return SuiteConfig(path, data["benchmark"], command, args, str(description))


def _value(value: Any, *, path: Path, name: str) -> Any:
    """A flag's value: a scalar or a list of scalars, ``${VAR}`` expanded in text."""
    if isinstance(value, list):
        return [_value(v, path=path, name=name) for v in value]
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        raise ConfigError(
            f"--{name} in eval config '{path}' must be text, a number, true/false or a list."
        )

    def expand(match: re.Match[str]) -> str:
        variable = match.group(1)
        found = os.environ.get(variable)
        if not found:
            raise ConfigError(
                f"Eval config '{path}' uses ${{{variable}}} but it is not set; export "
                f"{variable}=FOLDER (the folder of your prepared manifests, see eval/README.md)."
            )
        return found

    return _VARIABLE.sub(expand, value)


def add_eval_suite_commands(actions: Any) -> None:
    """Add ``vlad eval run`` and ``vlad eval table`` to the ``vlad eval`` subparsers.

    Args:
        actions: The subparsers action of the ``vlad eval`` parser.
    """
    run = actions.add_parser(
        "run",
        help="run one eval/NAME.yaml config and print its figures beside the papers'",
        description=(
            "Run the vlad eval command a config names (benchmark, command: images, videos or "
            "captions, args: its long flags) with --out, then print its figures beside the "
            "published ones of the same benchmark (eval/anchors.yaml)."
        ),
    )
    run.add_argument(  # dest "suite": every command's --config is its settings file
        "suite", type=Path, metavar="CONFIG.yaml", help="e.g. eval/mvtec-winclip.yaml"
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where the run writes its results (default: out/eval/CONFIG-NAME)",
    )
    _add_table_options(run)
    run.set_defaults(handler=run_eval_run, _eval_actions=actions)
    table = actions.add_parser(
        "table",
        help="print results.json figures beside the papers' published figures",
        description=(
            "Print the figures of vlad eval runs (results.json files or their folders) beside "
            "the published figures of the same benchmark, marking which vlad measured and "
            "which are quoted; per category when the results have categories."
        ),
    )
    table.add_argument(
        "results", nargs="+", type=Path, metavar="RESULTS", help="results.json or its folder"
    )
    table.add_argument("--out", type=Path, metavar="FILE.md", help="also write the table here")
    _add_table_options(table)
    table.set_defaults(handler=run_eval_table)
    declare_outputs(table, files=("out",))


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anchors",
        type=Path,
        metavar="FILE",
        help="published figures (default: eval/anchors.yaml of this vlad)",
    )
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")


def run_eval_table(args: argparse.Namespace) -> int:
    """Run ``vlad eval table``; return the exit status."""
    from vlad.runners.evaluation.table import load_results

    results = [load_results(path) for path in args.results]
    return _print_tables(results, args, out=args.out)


def run_eval_run(args: argparse.Namespace) -> int:
    """Run ``vlad eval run``; return the exit status."""
    from vlad.runners.evaluation.anchors import load_anchors
    from vlad.runners.evaluation.table import load_results

    config = load_suite_config(args.suite)
    load_anchors(args.anchors)  # a broken anchors file stops before the run, not after
    out = args.out if args.out is not None else Path("out") / "eval" / config.path.stem
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is a file, not a folder; choose another folder.")
    out.mkdir(parents=True, exist_ok=True)
    argv = config.argv(out)
    print(f"vlad eval run: vlad {' '.join(argv)}", file=sys.stderr)
    # With --json, stdout carries only the tables: the command's own report goes to stderr.
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        status = _run_command(args, argv)
    if status not in (0, 1):
        return status
    results = load_results(out / "results.json")
    shown = _print_tables([results], args, out=out / "table.md", benchmark=config.benchmark)
    return status or shown


def _run_command(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``vlad eval COMMAND ...`` in this process, as ``vlad`` itself would.

    The command's parser comes from the ``vlad eval`` subparsers kept at registration (so
    this module does not import :mod:`vlad.cli.main`); its outputs are checked before any
    work and its ``run.yaml`` is written beside them. Its errors are raised with its own
    flag names.
    """
    from vlad.cli.options import (
        check_outputs,
        parse_args,
        surface_names,
        write_run_files,
    )
    from vlad.errors import VladError
    from vlad.utils.runinfo import utc_now

    leaf = args._eval_actions.choices[argv[1]]
    try:
        inner = parse_args(leaf, argv[2:])
    except SystemExit as exc:  # argparse already said why on stderr
        return int(exc.code or 0)
    inner.command, inner.eval_command, inner.debug = "eval", argv[1], args.debug
    started = utc_now()
    try:
        check_outputs(inner)
        status = int(inner.handler(inner))
    except VladError as exc:
        if args.debug:
            raise
        raise type(exc)(exc.for_surface(surface_names(leaf))) from None
    if status in (0, 1):
        write_run_files(inner, argv, started=started)
    return status


def _print_tables(
    results: list[Any], args: argparse.Namespace, *, out: Path | None, benchmark: str | None = None
) -> int:
    from vlad.runners.evaluation.anchors import load_anchors
    from vlad.runners.evaluation.table import build_tables, render_markdown, tables_json
    from vlad.utils.io import atomic_write_text

    tables = build_tables(results, load_anchors(args.anchors), benchmark=benchmark)
    text = render_markdown(tables)
    if out is not None:
        atomic_write_text(out, text)
    if args.json:
        print(json.dumps(tables_json(tables), ensure_ascii=False))
    else:
        print(text, end="")
    return 0
