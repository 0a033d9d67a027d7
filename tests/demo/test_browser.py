"""The demo in a real headless browser: upload, wait for the plot, ask, read the answer.

Uses Debian's Chromium (``apt-get install chromium``) driven by Playwright through its
executable path, since browser downloads fail here. The screenshot goes to
``$VLAD_SCREENSHOT_DIR`` (default ``tests/artifacts/``, ignored by git).
"""

from __future__ import annotations

import pytest

from tests.browser import launch_chromium, screenshot_dir
from tests.demo.conftest import launch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


def test_upload_plot_keyframes_and_a_grounded_answer(
    browser, demo_analyzer, demo_video, demo_calibration
):
    from vlad.demo.app import build_app

    app = build_app(demo_analyzer)
    url = launch(app)
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#analyze").wait_for(state="visible", timeout=60_000)
        page.locator("#upload input[type=file]").set_input_files(str(demo_video))
        page.locator("#definitions textarea").fill(demo_calibration.definition)
        # Gradio uploads the file when it is chosen; wait until it shows in the box.
        page.wait_for_function(
            "document.querySelector('#upload').innerText.includes('.mp4')", timeout=30_000
        )
        page.locator("#analyze").click()
        page.locator("#timeline img").first.wait_for(state="visible", timeout=120_000)
        keyframe = page.locator("#keyframes img").first
        keyframe.wait_for(state="attached", timeout=30_000)
        keyframe.scroll_into_view_if_needed()  # the gallery loads its images lazily
        page.wait_for_function(
            "() => { const i = document.querySelector('#keyframes img');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=30_000,
        )
        assert "E1 at 0:0" in keyframe.get_attribute("alt")
        summary = page.locator("#summary textarea").input_value()
        assert summary.startswith("event.mp4: anomalous")
        assert "[E1] 0:02–0:04" in summary
        evidence = page.locator("#evidence").inner_text()
        assert "E1" in evidence and demo_calibration.definition in evidence

        box = page.locator("#message textarea, #message input").first
        box.fill("what happens at 0:03?")
        box.press("Enter")
        chat = page.locator("#chat")
        chat.get_by_text("inside [E1]", exact=False).first.wait_for(timeout=60_000)
        box.fill("why is that anomalous?")
        box.press("Enter")
        chat.get_by_text("is anomalous because", exact=False).first.wait_for(timeout=60_000)
        text = chat.inner_text()
        assert "At 0:03 the fused score is" in text
        assert f'the definition "{demo_calibration.definition}" scored' in text
        path = screenshot_dir() / "demo_browser.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    finally:
        page.close()
        app.close()
