"""What the browser tests share: Debian's Chromium driven by Playwright, and where screenshots go.

Chromium comes from ``apt-get install chromium`` (``$VLAD_CHROMIUM`` names another binary),
driven through its executable path since browser downloads fail here. Screenshots go to
``$VLAD_SCREENSHOT_DIR`` (default ``tests/artifacts/``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("VLAD_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def screenshot_dir() -> Path:
    """The folder screenshots are saved to (created)."""
    default = Path(__file__).parent / "artifacts"
    folder = Path(os.environ.get("VLAD_SCREENSHOT_DIR", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch_chromium() -> Iterator[Any]:
    """Yield a headless Chromium (skips the test when Chromium or Playwright is missing)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()
