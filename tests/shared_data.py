"""Where the shared benchmark data lives: ``$VLAD_SHARED_DATA``, else ``../shared/data``.

The data is used from there, never copied into the project; tests that need it skip with
a reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VLAD_SHARED_DATA", REPO.parent / "shared" / "data"))
ANOMALYRULER = SHARED_DATA / "anomalyruler"
UCA = SHARED_DATA / "uca"
