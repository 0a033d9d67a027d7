"""Flashback maths as a reader meets it: the docstring examples run, and the imports stay light."""

from __future__ import annotations

import doctest
import subprocess
import sys

import vlad.scoring.memory.math as memory_math


def test_docstring_examples() -> None:
    result = doctest.testmod(memory_math)
    assert result.attempted >= 9 and result.failed == 0


def test_importing_the_memory_loads_neither_faiss_nor_torch() -> None:
    code = (
        "import sys, vlad.scoring.memory; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'faiss', 'torch', 'tqdm'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
