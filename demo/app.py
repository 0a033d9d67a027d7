"""Launch the vlad chat demo: ``python demo/app.py [vlad demo options]``.

The app itself lives in the package (:mod:`vlad.demo`), so that an installed vlad has it
too (``vlad demo``); this launcher runs exactly ``vlad demo`` with the same arguments, and
re-exports the app's builders for people who browse ``demo/``. It is an entry point, like
the ``vlad`` command: the package's demo never imports the command line, this file may.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from vlad.cli.main import main as vlad_main
from vlad.demo.app import build_app, launch_app

__all__ = ["build_app", "launch_app", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vlad demo`` with these arguments.

    Args:
        argv: Options of ``vlad demo`` (default: the command line's).

    Returns:
        The exit status of ``vlad demo``.
    """
    return vlad_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
