"""The playground in a real browser: Debian's Chromium driven by Playwright, against a real
server with the real model. A file upload shows its verdict; the fake camera (a committed Y4M
clip of a DFDC fake) streams to WS /v1/streams and reaches a state."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepfake_stream.config import Settings, load_settings
from deepfake_stream.pipeline import Analyzer
from support.browser import TIMEOUT_MS, chromium, needs_chromium
from support.live import live_server
from support.settings import isolated

REPO = Path(__file__).parent.parent.parent

pytestmark = needs_chromium


@pytest.fixture
def base_url(settings: Settings, analyzer: Analyzer, tmp_path: Path) -> Iterator[str]:
    configured = isolated(settings, tmp_path, streams={"real_fps": 2.0, "watch_fps": 4.0})
    with live_server(configured, analyzer) as client:
        yield str(client.base_url)


@pytest.fixture
def ensemble_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A server running configs/ensemble.yaml: the face and frequency branches, fused."""
    ensemble = load_settings(REPO / "configs" / "ensemble.yaml")
    model = ensemble.model.model_copy(update={"onnx_cache_dir": tmp_path / "onnx"})
    analyzer = Analyzer(isolated(ensemble, tmp_path).model_copy(update={"model": model}))
    try:
        with live_server(analyzer.settings, analyzer) as client:
            yield str(client.base_url)
    finally:
        analyzer.close()


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
    page.get_by_label("Image, video or audio").set_input_files(str(fixtures / "photo.jpg"))
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("Analysed photo.jpg").wait_for(timeout=TIMEOUT_MS)
    verdict = page.locator("#verdict").text_content()
    assert verdict in ("real", "fake", "uncertain")  # a face was found: never "no face"
    assert page.locator("#people tr").count() == 1
    assert page.locator("#boxes rect").count() == 1  # the face, outlined
    assert page.locator("#preview-image").is_visible()
    assert not page.locator("#preview-video").is_visible()  # nothing pushes the boxes off
    assert page.locator("#timeline li").count() == 1
    # The face behind the verdict, shown (an image has no moment to seek).
    assert page.locator("#frames figure img").count() == 1
    assert page.locator("#frames button").count() == 0


def percent(p: float) -> str:
    """As the page writes a probability (JavaScript's Math.round, halves up)."""
    return f"{math.floor(p * 100 + 0.5)}%"


def threshold(p: float) -> str:
    """As the page writes a threshold: two significant digits."""
    return f"{float(f'{p * 100:.2g}'):g}%"


def analysed(page: Any, fixture: Path) -> dict[str, Any]:
    """Upload `fixture` in the page and wait for its result; the JSON the page received."""
    page.get_by_label("Image, video or audio").set_input_files(str(fixture))
    with page.expect_response("**/v1/analyze?thumbnails=true", timeout=TIMEOUT_MS) as response:
        page.get_by_role("button", name="Analyse").click()
    result: dict[str, Any] = response.value.json()
    page.get_by_text(f"Analysed {fixture.name}").wait_for(timeout=TIMEOUT_MS)
    return result


def test_a_video_shows_why_its_verdict_is_uncertain(
    browser: Any, base_url: str, fixtures: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 1800})
    page.goto(base_url)
    result = analysed(page, fixtures / "two_people_2s.mp4")
    assert result["verdict"] == "uncertain"  # the shipped model on two real talking heads

    # Each person's score from each branch that ran (the default: the face branch alone).
    headers = page.locator("#people-head th").all_inner_texts()
    assert headers == ["Person", "Verdict", "Probability", "Face branch", "Frames"]
    rows = page.locator("#people tr")
    assert rows.count() == len(result["people"]) == 2
    for index, person in enumerate(result["people"]):
        cell = rows.nth(index).locator('td[data-branch="face"]')
        assert cell.inner_text() == percent(person["branches"]["face"])
    assert "Only the face branch ran" in page.locator("#branches-note").inner_text()

    # The faces behind the timeline: one column per segment, each person's top face in it.
    thumbnails = result["thumbnails"]
    assert len(thumbnails) == 16  # 8 segments x 2 people
    columns = page.locator("#frames > li")
    assert columns.count() == page.locator("#timeline li").count() == 8
    for segment in range(8):
        shown = sorted(
            (t for t in thumbnails if t["segment"] == segment), key=lambda t: t["track_id"]
        )
        column = columns.nth(segment)
        assert column.locator("img").count() == len(shown) == 2
        captions = column.locator("button span").all_inner_texts()
        assert captions == [f"#{t['track_id']} {percent(t['probability'])}" for t in shown]
    # Each image is a JPEG data URI the browser decoded (the page's CSP lets data: images in).
    images = page.locator("#frames img").evaluate_all(
        """async (images) => Promise.all(images.map(async (image) => {
             await image.decode();
             return [image.src.slice(0, 23), image.naturalWidth, image.naturalHeight];
           }))"""
    )
    assert images == [["data:image/jpeg;base64,", 96, 96]] * 16
    # Selecting a face shows its moment in the video.
    latest = max(thumbnails, key=lambda t: (t["segment"], t["track_id"]))
    page.locator("#frames button").last.click()
    page.wait_for_function(
        f"() => Math.abs(document.getElementById('preview-video').currentTime - "
        f"{latest['time_s']}) < 0.05",
        timeout=TIMEOUT_MS,
    )

    # What "uncertain" means, why the service says it, and what to do.
    reading = page.locator("#reading")
    assert reading.is_visible()
    assert "uncertain" in page.locator("#reading-title").inner_text()
    why = page.locator("#reading-why").inner_text()
    assert percent(result["probability"]) in why  # its probability...
    used = result["settings"]
    assert f"under {threshold(used['real_below'])}" in why  # ...between the two thresholds
    assert f"at {threshold(used['fake_at_or_above'])} or above" in why
    top = max(thumbnails, key=lambda t: t["probability"])
    assert f"person #{top['track_id']} at {top['time_s']:.1f} s" in why  # its worst moment
    assert "original file" in page.locator("#reading-todo").inner_text()


def test_with_two_branches_each_person_shows_each_branchs_score(
    browser: Any, ensemble_url: str, fixtures: Path
) -> None:
    page = browser.new_page()
    page.goto(ensemble_url)
    result = analysed(page, fixtures / "fake_dfdc_2s.mp4")
    assert result["model"]["branches"] == ["face", "frequency"]
    headers = page.locator("#people-head th").all_inner_texts()
    assert headers == [
        "Person",
        "Verdict",
        "Probability",
        "Face branch",
        "Frequency branch",
        "Frames",
    ]
    [person] = result["people"]
    for branch in ("face", "frequency"):
        cell = page.locator(f'#people td[data-branch="{branch}"]')
        assert cell.inner_text() == percent(person["branches"][branch])
    assert "fusion-wild-face" in page.locator("#branches-note").inner_text()
    # The file's own branch scores sit next to the fused probability, and each face's in its
    # thumbnail's description.
    face, frequency = result["branches"]["face"], result["branches"]["frequency"]
    line = page.locator("#probability").inner_text()
    assert f"face {percent(face)}, frequency {percent(frequency)}" in line
    first = result["thumbnails"][0]["branches"]
    title = page.locator("#frames button").first.get_attribute("title")
    assert f"(face {percent(first['face'])}, frequency {percent(first['frequency'])})" in title


def test_a_fake_needs_no_reading(browser: Any, base_url: str, fixtures: Path) -> None:
    page = browser.new_page()
    page.goto(base_url)
    result = analysed(page, fixtures / "fake_dfdc_2s.mp4")
    assert result["verdict"] == "fake"
    assert not page.locator("#reading").is_visible()  # readings are for uncertain and no face
    # The faces that made it fake are framed in the fake colour.
    fake_at = result["settings"]["fake_at_or_above"]
    fakes = [t for t in result["thumbnails"] if t["probability"] >= fake_at]
    assert page.locator("#frames .frame.fake").count() == len(fakes) > 0


def test_a_photo_without_a_face_says_what_no_face_means(
    browser: Any, base_url: str, fixtures: Path
) -> None:
    page = browser.new_page()
    page.goto(base_url)
    result = analysed(page, fixtures / "noface.jpg")
    assert result["verdict"] == "no_face" and result["thumbnails"] == []
    assert page.locator("#verdict").inner_text().lower() == "no face"
    assert "no face" in page.locator("#reading-title").inner_text()
    assert "No face was found in the image" in page.locator("#reading-why").inner_text()
    assert page.locator("#people tr").count() == 0
    assert not page.locator("#frames").is_visible()


def test_a_bad_file_shows_the_error(browser: Any, base_url: str, fixtures: Path) -> None:
    page = browser.new_page()
    page.goto(base_url)
    page.get_by_label("Image, video or audio").set_input_files(str(fixtures / "corrupt.jpg"))
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


def test_an_audio_file_shows_its_voice_verdict_and_windows(
    browser: Any, base_url: str, fixtures: Path
) -> None:
    page = browser.new_page()
    page.goto(base_url)
    result = analysed(page, fixtures / "audio" / "real_dc_tts_LJ001-0010.flac")
    audio = result["audio"]
    assert result["media"]["type"] == "audio"
    assert page.locator("#preview-audio").is_visible()
    assert not page.locator("#preview-video").is_visible()
    assert page.locator("#voice-verdict").inner_text().lower() == audio["verdict"]
    assert page.locator("#voice-windows li").count() == len(audio["windows"]) > 0
    first = page.locator("#voice-windows li").first.get_attribute("title")
    assert first is not None and first.endswith(percent(audio["windows"][0]["probability"]))
    if audio["verdict"] == "uncertain":
        assert "voice" in page.locator("#reading-meaning").inner_text()


def test_silence_says_what_no_speech_means(browser: Any, base_url: str, tmp_path: Path) -> None:
    import wave

    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(bytes(16_000 * 2 * 3))
    page = browser.new_page()
    page.goto(base_url)
    result = analysed(page, silence)
    assert result["verdict"] == "no_speech"
    assert "no speech" in page.locator("#reading-title").inner_text()
    assert page.locator("#voice-windows li").count() == 0


def test_the_fake_microphone_is_streamed_and_its_voice_judged(
    base_url: str, fixtures: Path, tmp_path: Path
) -> None:
    """Chromium's fake microphone plays real speech (a voice the model never trained on) into
    the webcam mode, which sends it as the protocol's audio messages."""
    import wave

    from deepfake_stream.audio.decode import load_audio

    audio = load_audio(fixtures / "audio" / "real_dc_tts_LJ001-0010.flac", Settings().limits)
    assert audio is not None
    speech = tmp_path / "microphone.wav"
    with wave.open(str(speech), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((audio.samples * 32767).astype("<i2").tobytes())
    with chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fixtures / 'camera_fake_dfdc.y4m'}",
        f"--use-file-for-fake-audio-capture={speech}",
        "--autoplay-policy=no-user-gesture-required",
    ) as launched:
        context = launched.new_context(permissions=["camera", "microphone"])
        page = context.new_page()
        page.goto(base_url)
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function(
            "() => ['REAL', 'UNCERTAIN', 'FAKE'].includes("
            "document.getElementById('live-voice').textContent)",
            timeout=TIMEOUT_MS,
        )
        voice = page.locator("#live-voice")
        assert voice.get_attribute("class") == voice.inner_text().lower()
        assert "spoof score" in page.locator("#live-voice-score").inner_text()
        assert voice.inner_text() != "FAKE"  # a real voice
        page.get_by_role("button", name="Stop camera").click()
        page.get_by_text("stopped").wait_for(timeout=TIMEOUT_MS)
        context.close()
