"""The batch report in a real headless Chromium: sort the table, open a row, see its pictures.

The first test reports a real batch run (the local engine over ``datasets/samples`` with a
tiny random-weight CLIP, plus a broken file) and saves the screenshot; the second checks
the exact orders on hand-built records.

Uses Debian's Chromium (``apt-get install chromium``) driven by Playwright through its
executable path, since browser downloads fail here. The screenshot goes to
``$VLAD_SCREENSHOT_DIR`` (default ``tests/artifacts/``, ignored by git).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.answer.test_report import failed_record, image_record, video_record
from tests.browser import launch_chromium, screenshot_dir
from vlad.answer.render import heat_map_overlay
from vlad.answer.report import report_order, write_report

SAMPLES = Path(__file__).parents[2] / "datasets" / "samples"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


def _records(out: Path) -> list[dict[str, Any]]:
    records = [
        video_record(out, "corridor-night", 0.31, definition="a person falls"),
        failed_record("truncated", "The video 'videos/truncated.mp4' is empty; re-export it."),
        video_record(out, "loading-bay", 0.93, definition="a person falls"),
        image_record(out, "plate-07", 0.71),
        video_record(out, "entrance", 0.62, definition="a person falls"),
    ]
    # Real pictures in place of the plain ones: sample frames and plates with heat maps.
    for record, picture in zip(
        records[2:], ("frames/010.jpg", "plates/scratch.png", "frames/005.jpg"), strict=True
    ):
        with Image.open(SAMPLES / picture) as opened:
            image = opened.convert("RGB")
        height, width = image.height, image.width
        rows, cols = np.mgrid[0:height, 0:width]
        peak = np.exp(
            -(
                ((rows - height * 0.55) / (height / 5)) ** 2
                + ((cols - width * 0.5) / (width / 6)) ** 2
            )
        )
        for artifact in record["artifacts"]:
            shown = image if artifact["kind"] == "keyframe" else heat_map_overlay(image, peak)
            shown.save(out / artifact["path"])
        if record["kind"] == "video":  # a definition track that differs from the fused one
            timeline = record["timeline"]
            timeline["tracks"] = {"a person falls": [0.8 * v for v in timeline["fused"]]}
    return records


@pytest.fixture(scope="module")
def real_batch(clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch folder written by the local engine on the sample inputs and a broken file."""
    from vlad.config import ClipConfig, PipelineConfig, VideoConfig
    from vlad.runners.batch.inputs import expand_inputs
    from vlad.runners.batch.local import BatchOptions, run_local
    from vlad.runners.batch.store import ResultStore

    out = tmp_path_factory.mktemp("real") / "batch"
    broken = out.parent / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    config = PipelineConfig(
        clip=ClipConfig(weights=f"local-dir:{clip_dir}", device="cpu"),
        video=VideoConfig(sample_fps=4.0, threshold=0.0),
    )
    inputs = [SAMPLES / "walkway.mp4", SAMPLES / "plates", broken]
    store = ResultStore(out).open()
    run_local(
        expand_inputs([str(p) for p in inputs]),
        store,
        config=config,
        run_settings={"threshold": 0.0},
        options=BatchOptions(progress=False),
    )
    write_report(out, store.records(), formats=("html", "md"))
    return out


def test_a_real_batch_report_sorts_and_opens_a_row_with_its_timeline_and_keyframes(
    browser, real_batch: Path
) -> None:
    from vlad.runners.batch.store import ResultStore

    records = ResultStore(real_batch).records()
    assert {r["status"] for r in records} == {"ok", "failed"} and len(records) == 6
    ordered = report_order(records)
    analysed = [r for r in ordered if r["status"] == "ok"]
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto((real_batch / "report.html").as_uri(), wait_until="load")
        assert _column(page, 2) == [Path(r["input"]).name for r in ordered]
        page.locator("th[data-sort=score] button").click()
        ascending = sorted(f"{r['score']:.3f}" for r in analysed)
        assert _column(page, 4) == [*sorted(ascending, key=float), ""]
        page.locator("th[data-sort=score] button").click()
        assert _column(page, 4) == [*sorted(ascending, key=float, reverse=True), ""]
        assert _column(page, 3)[-1] == "failed"

        row = page.locator("#summary tbody tr", has_text="walkway.mp4")
        target = row.get_attribute("data-target")
        detail = page.locator(f"details#{target}")
        assert not detail.locator("svg.timeline").is_visible()
        row.click()
        timeline = detail.locator("svg.timeline")
        timeline.wait_for(state="visible", timeout=5_000)
        assert detail.locator("svg polyline.fused").count() >= 1
        assert detail.locator("svg .event").count() >= 1
        keyframe = detail.locator("figure.keyframe img").first
        keyframe.wait_for(state="visible", timeout=5_000)
        page.wait_for_function(
            f"() => Array.from(document.querySelectorAll('details#{target} img'))"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=5_000,
        )
        assert keyframe.get_attribute("alt").startswith("E1 keyframe at 0:0")
        assert "broken.mp4" in page.locator("#failed").inner_text()
        page.screenshot(path=str(screenshot_dir() / "batch-report.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
    assert requests and all(url.startswith(("file://", "data:")) for url in requests), requests


def _column(page: Any, index: int) -> list[str]:
    return page.locator(f"#summary tbody tr td:nth-child({index})").all_inner_texts()


def test_hand_built_records_sort_exactly_and_open_with_their_pictures(browser, tmp_path):
    out = tmp_path / "batch"
    write_report(out, _records(out))
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto((out / "report.html").as_uri(), wait_until="load")
        first = ["loading-bay.mp4", "plate-07.png", "entrance.mp4"]
        assert _column(page, 2) == [*first, "corridor-night.mp4", "truncated.mp4"]

        page.locator("th[data-sort=score] button").click()  # lowest first, failed still last
        assert _column(page, 4) == ["0.310", "0.620", "0.710", "0.930", ""]
        assert page.locator("th[data-sort=score]").get_attribute("aria-sort") == "ascending"
        page.locator("th[data-sort=score] button").click()  # highest first again
        assert _column(page, 4) == ["0.930", "0.710", "0.620", "0.310", ""]

        page.locator("th[data-sort=verdict] button").click()
        assert _column(page, 3) == ["anomalous"] * 3 + ["normal", "failed"]
        page.locator("th[data-sort=verdict] button").click()
        assert _column(page, 3) == ["failed", "normal"] + ["anomalous"] * 3
        page.locator("th[data-sort=score] button").click()

        detail = page.locator("details#input-1")
        assert not detail.locator("svg.timeline").is_visible()
        assert not detail.locator("img").first.is_visible()
        page.locator("#summary tbody tr", has_text="loading-bay.mp4").click()
        assert detail.get_attribute("open") is not None
        timeline = detail.locator("svg.timeline")
        timeline.wait_for(state="visible", timeout=5_000)
        assert timeline.bounding_box()["width"] > 300
        assert detail.locator("svg .event").count() == 1
        keyframe = detail.locator("img").first
        keyframe.wait_for(state="visible", timeout=5_000)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('details#input-1 img'))"
            ".every(i => i.complete && i.naturalWidth === 320)",
            timeout=5_000,
        )
        assert keyframe.get_attribute("alt") == "E1 keyframe at 0:10"
        assert page.locator("#summary tr.selected").inner_text().startswith("1\tloading-bay.mp4")
        assert page.evaluate("location.hash") == "#input-1"

        failed = page.locator("#failed").inner_text()
        assert "truncated.mp4" in failed and "is empty; re-export it." in failed

    finally:
        page.close()
    assert errors == []
    assert requests and all(url.startswith(("file://", "data:")) for url in requests), requests
