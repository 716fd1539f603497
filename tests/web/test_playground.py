"""The playground in a real browser: Debian's Chromium driven by Playwright, against a real
server with the real model. A file upload shows its verdict; the fake camera (a committed Y4M
clip of a DFDC fake) streams to WS /v1/streams and reaches a state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.browser import TIMEOUT_MS, chromium, needs_chromium
from support.live import live_server
from support.settings import isolated

pytestmark = needs_chromium


@pytest.fixture
def base_url(settings: Settings, analyzer: Analyzer, tmp_path: Path) -> Iterator[str]:
    configured = isolated(settings, tmp_path, streams={"real_fps": 2.0, "watch_fps": 4.0})
    with live_server(configured, analyzer) as client:
        yield str(client.base_url)


@pytest.fixture
def browser(fixtures: Path) -> Iterator[Any]:
    with chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fixtures / 'camera_fake_dfdc.y4m'}",
    ) as launched:
        yield launched


def test_an_uploaded_photo_shows_its_verdict_boxes_and_people(
    browser: Any, base_url: str, fixtures: Path
) -> None:
    page = browser.new_page()
    page.goto(base_url)
    assert page.title() == "DeepfakeStream playground"
    page.get_by_label("Image or video").set_input_files(str(fixtures / "photo.jpg"))
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("Analysed photo.jpg").wait_for(timeout=TIMEOUT_MS)
    verdict = page.locator("#verdict").text_content()
    assert verdict in ("real", "fake", "uncertain")  # a face was found: never "no face"
    assert page.locator("#people tr").count() == 1
    assert page.locator("#boxes rect").count() == 1  # the face, outlined
    assert page.locator("#preview-image").is_visible()
    assert not page.locator("#preview-video").is_visible()  # nothing pushes the boxes off
    assert page.locator("#timeline li").count() == 1


def test_a_bad_file_shows_the_error(browser: Any, base_url: str, fixtures: Path) -> None:
    page = browser.new_page()
    page.goto(base_url)
    page.get_by_label("Image or video").set_input_files(str(fixtures / "corrupt.jpg"))
    page.keyboard.press("Tab")  # the form works from the keyboard
    page.get_by_role("button", name="Analyse").press("Enter")
    status = page.locator("#file-status")
    status.get_by_text("Error 400").wait_for(timeout=TIMEOUT_MS)
    assert "cannot decode" in status.inner_text()


def test_the_fake_camera_streams_and_reaches_a_state(browser: Any, base_url: str) -> None:
    context = browser.new_context(permissions=["camera"])
    page = context.new_page()
    page.goto(base_url)
    page.get_by_role("button", name="Start camera").click()
    state = page.locator("#live-state")
    page.wait_for_function(
        "() => ['REAL', 'UNCERTAIN', 'FAKE'].includes("
        "document.getElementById('live-state').textContent)",
        timeout=TIMEOUT_MS,
    )
    assert state.inner_text() in ("REAL", "UNCERTAIN", "FAKE")
    # The state's colour is the verdict's, as for files.
    assert state.get_attribute("class") == state.inner_text().lower()
    assert "frames analysed" in page.locator("#live-counters").inner_text()
    page.get_by_role("button", name="Stop camera").click()
    page.get_by_text("stopped").wait_for(timeout=TIMEOUT_MS)
    context.close()
