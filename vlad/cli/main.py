"""The ``vlad`` command line: assemble the commands, parse, dispatch, print errors.

Each command lives in its own module (``detect``, ``memory``, ``rules``, ``eval``, ``demo``);
the options they share, ``--config`` and ``run.yaml`` in :mod:`vlad.cli.options`.

Errors reach the user as one sentence on stderr, naming flags where the library named a
parameter (``--debug`` shows the traceback). Exit status: 0 when everything worked, 1 when
some input failed (the others are still processed), 2 when nothing could run (bad option,
config file, model or setting), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from vlad import __version__
from vlad.cli.batch import add_batch_parser
from vlad.cli.data import add_data_commands
from vlad.cli.demo import add_demo_command
from vlad.cli.detect import add_parser as add_detect_parser
from vlad.cli.eval import add_eval_commands
from vlad.cli.memory import add_memory_commands
from vlad.cli.options import (
    VladParser,
    add_config_options,
    check_outputs,
    command_parser,
    parse_args,
    surface_names,
    write_run_files,
)
from vlad.cli.prompts import add_prompts_commands
from vlad.cli.rules import add_rules_commands
from vlad.cli.train import add_train_commands
from vlad.errors import VladError
from vlad.utils.messages import one_line
from vlad.utils.runinfo import utc_now

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("vlad")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``vlad`` command and its subcommands."""
    parser = VladParser(prog="vlad", description="Explainable visual anomaly detection.")
    parser.add_argument("--version", action="version", version=f"vlad {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=VladParser)
    commands.required = True

    add_detect_parser(commands)
    add_memory_commands(commands)
    add_demo_command(commands)
    add_rules_commands(commands)
    add_batch_parser(commands)  # after detect and rules: it reuses their options
    add_eval_commands(commands)
    add_data_commands(commands)
    add_prompts_commands(commands)
    add_train_commands(commands)
    add_config_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vlad`` command line and return its exit status.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status (also used by the console script).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except VladError as exc:  # the --config file: unreadable, unknown setting, wrong kind
        if "--debug" in argv:
            raise
        print(f"vlad: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="vlad: %(levelname)s: %(message)s",
    )
    if not args.debug:
        _quiet_libraries()
    started = utc_now()
    try:
        check_outputs(args)  # an output that cannot be written stops the run before any work
        status = int(args.handler(args))
        if status in (EXIT_OK, EXIT_INPUT_FAILED):
            write_run_files(args, argv, started=started)
        return status
    except VladError as exc:
        if args.debug:
            raise
        print(f"vlad: {exc.for_surface(surface_names(command_parser(args)))}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("vlad: stopped; results printed so far are complete.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"vlad: unexpected error ({type(exc).__name__}: {one_line(str(exc))}); "
            "rerun with --debug and report it.",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE


def _quiet_libraries() -> None:
    """Keep third-party warnings (timm deprecations, open_clip notices) off a user's screen."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    for name in ("root", "open_clip", "timm", "transformers"):
        logging.getLogger(name if name != "root" else None).setLevel(logging.ERROR)
    logging.getLogger("vlad").setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
