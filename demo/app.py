"""Launch the vlad chat demo: ``python demo/app.py [vlad demo options]``.

The app itself lives in the package (:mod:`vlad.demo.app`), so that an installed vlad
has it too (``vlad demo``); this file only re-exports it for people who browse ``demo/``.
"""

from __future__ import annotations

from vlad.demo.app import build_app, launch_app, main

__all__ = ["build_app", "launch_app", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
