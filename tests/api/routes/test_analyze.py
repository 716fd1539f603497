"""POST /v1/analyze in-process: real fixtures, the real model, the app's own lifespan; bad
uploads, size and duration limits, and admission."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from deepfake_stream.api import build_app
from deepfake_stream.config import Settings
from deepfake_stream.detection.weights import read_manifest
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.thumbnails import MAX_THUMBNAILS, THUMBNAIL_SIDE
from support.api_client import (
    SMALL_LIMIT,
    assert_box_inside,
    assert_no_server_path,
    error_message,
    multipart,
    ok_result,
    post_fixture,
    post_media,
    wait_until_settled,
    with_limits,
    with_server,
)
from support.live import live_server
from support.settings import isolated


@pytest.fixture(scope="module")
def photo_result(client: TestClient, fixtures: Path) -> dict[str, Any]:
    return ok_result(post_fixture(client, fixtures / "photo.jpg"))


@pytest.fixture(scope="module")
def talking_head_result(client: TestClient, fixtures: Path) -> dict[str, Any]:
    return ok_result(post_fixture(client, fixtures / "real_hdtf_2s.mp4"))


def test_analyze_photo(photo_result: dict[str, Any], fixtures: Path) -> None:
    width, height = Image.open(fixtures / "photo.jpg").size
    result = photo_result
    assert result["verdict"] != "fake"  # a real photo (the shipped model is unsure of it)
    assert 0.0 <= result["probability"] <= 1.0
    assert result["file_name"] == "photo.jpg"
    media = result["media"]
    assert (media["type"], media["format"]) == ("image", "jpeg")
    assert (media["width"], media["height"]) == (width, height)
    assert media["frames_sampled"] == 1
    assert media["duration_s"] is None
    [person] = result["people"]
    [track_box] = person["boxes"]
    assert_box_inside(track_box["box"], width, height)
    [segment] = result["segments"]
    [face] = segment["faces"]
    assert face["box"] == track_box["box"]
    assert face["detection_confidence"] >= 0.9
    assert result["model"]["untrained"] is False
    assert not any("untrained" in warning for warning in result["warnings"])


def test_analyze_talking_head_video(
    talking_head_result: dict[str, Any], settings: Settings
) -> None:
    result = talking_head_result
    # An HDTF talking head (real), through the shipped model: never `fake`, judged by the
    # thresholds the result reports, and when it sits between the real threshold calibrated on
    # methods the model was not trained on and validation's, it is uncertain and says why
    # (weights/README.md, "Calibrated real threshold").
    assert settings.model.weights is not None
    calibration = read_manifest(settings.model.weights).calibration
    assert calibration is not None
    probability = result["probability"]
    used = result["settings"]
    assert (used["real_below"], used["fake_at_or_above"]) == (
        calibration.real_below,
        read_manifest(settings.model.weights).thresholds.fake_at_or_above,
    )
    assert result["verdict"] != "fake" and probability < used["fake_at_or_above"]
    expected = "real" if probability < used["real_below"] else "uncertain"
    assert result["verdict"] == expected
    explained = any("methods it was not trained on" in w for w in result["warnings"])
    assert explained == (calibration.real_below <= probability < calibration.validation_real_below)
    media = result["media"]
    assert (media["type"], media["format"]) == ("video", "mp4")
    assert (media["width"], media["height"]) == (256, 256)
    assert media["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert media["frames_sampled"] == 32  # 8 segments x 4 frames (default config)
    segments = result["segments"]
    assert [segment["index"] for segment in segments] == list(range(8))
    assert segments[0]["start_s"] == 0
    assert segments[-1]["end_s"] == pytest.approx(media["duration_s"], abs=0.01)
    for segment in segments:
        assert segment["probability"] is not None
        assert len(segment["faces"]) == 4
        for face in segment["faces"]:
            assert segment["start_s"] <= face["time_s"] <= segment["end_s"]
            assert_box_inside(face["box"], 256, 256)
    [person] = result["people"]
    assert person["frames"] == 32
    assert len(person["boxes"]) == 32
    assert person["votes"] is True
    timings = result["timings"]
    assert all(timings[key] > 0 for key in ("decode_ms", "detect_ms", "classify_ms"))
    assert timings["total_ms"] >= max(timings["decode_ms"], timings["detect_ms"])


def test_analyze_two_people(client: TestClient, fixtures: Path) -> None:
    result = ok_result(post_fixture(client, fixtures / "two_people_2s.mp4"))
    assert (result["media"]["width"], result["media"]["height"]) == (384, 192)
    people = result["people"]
    assert len(people) == 2
    assert len({person["track_id"] for person in people}) == 2
    # The two talking heads sit side by side: one track per half of the frame.
    centres = sorted(
        sum((box["box"][0] + box["box"][2]) / 2 for box in person["boxes"]) / len(person["boxes"])
        for person in people
    )
    assert centres[0] < 192 < centres[1]


def test_analyze_image_without_a_face(client: TestClient, fixtures: Path) -> None:
    result = ok_result(post_fixture(client, fixtures / "noface.jpg"))
    assert result["verdict"] == "no_face"
    assert result["probability"] is None
    assert result["people"] == []
    [segment] = result["segments"]
    assert segment["probability"] is None
    assert segment["faces"] == []


def test_sampling_parameters_override_the_config(client: TestClient, fixtures: Path) -> None:
    result = ok_result(
        post_fixture(client, fixtures / "real_hdtf_2s.mp4", segments=2, frames_per_segment=3)
    )
    assert len(result["segments"]) == 2
    assert result["media"]["frames_sampled"] == 6
    assert (result["settings"]["segments"], result["settings"]["frames_per_segment"]) == (2, 3)
    assert all(len(segment["faces"]) == 3 for segment in result["segments"])


def test_thumbnails_come_only_when_asked_for(
    client: TestClient, fixtures: Path, talking_head_result: dict[str, Any]
) -> None:
    # Not asked for: no key at all (not even null), so the default result keeps its size.
    assert "thumbnails" not in talking_head_result
    assert talking_head_result["schema_version"] == "2.2"
    two_people = fixtures / "two_people_2s.mp4"
    result = ok_result(
        post_fixture(client, two_people, segments=24, frames_per_segment=1, thumbnails="true")
    )
    thumbnails = result["thumbnails"]
    # 24 segments x 2 people: more faces than the bound, so only the most suspicious stay.
    tops: dict[tuple[int, int], float] = {}  # (segment, person) -> their top face's probability
    for segment in result["segments"]:
        for face in segment["faces"]:
            key = (segment["index"], face["track_id"])
            tops[key] = max(tops.get(key, 0.0), face["probability"])
    assert len(tops) > MAX_THUMBNAILS == len(thumbnails)
    shown = sorted(t["probability"] for t in thumbnails)
    assert shown == sorted(tops.values())[-MAX_THUMBNAILS:]
    faces = {(f["time_s"], f["track_id"]): f for s in result["segments"] for f in s["faces"]}
    for thumbnail in thumbnails:
        face = faces[(thumbnail["time_s"], thumbnail["track_id"])]  # an analysed face
        assert (thumbnail["probability"], thumbnail["branches"]) == (
            face["probability"],
            face["branches"],
        )
        header, _, encoded = thumbnail["image"].partition(",")
        assert header == "data:image/jpeg;base64"
        jpeg = base64.b64decode(encoded, validate=True)
        assert len(jpeg) < 8_000  # a few KB each
        with Image.open(io.BytesIO(jpeg)) as image:
            assert image.format == "JPEG"
            assert max(image.size) <= THUMBNAIL_SIDE
            image.load()  # decodes whole
    assert [t["time_s"] for t in thumbnails] == sorted(t["time_s"] for t in thumbnails)


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("corrupt.jpg", 400, "corrupt_media"),
        ("truncated.mp4", 400, "corrupt_media"),
        ("empty.mp4", 400, "empty_media"),
    ],
)
def test_bad_media_fixtures(
    client: TestClient, fixtures: Path, name: str, status: int, code: str
) -> None:
    error_message(post_fixture(client, fixtures / name), status, code)


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "empty_media"),
        (b"just some notes, not media\n" * 10, 415, "unsupported_media_type"),
        (gif_bytes(), 415, "unsupported_media_type"),
    ],
    ids=["zero-bytes", "text", "gif"],
)
def test_bad_uploads(client: TestClient, content: bytes, status: int, code: str) -> None:
    error_message(post_media(client, content, "upload.jpg"), status, code)


@pytest.mark.parametrize(
    ("params", "named"),
    [({"segments": 0}, "segments"), ({"frames_per_segment": 999}, "frames_per_segment")],
)
def test_out_of_range_parameters(
    client: TestClient, fixtures: Path, params: dict[str, int], named: str
) -> None:
    message = error_message(
        post_fixture(client, fixtures / "noface.jpg", **params), 422, "invalid_parameters"
    )
    assert named in message


def test_missing_file_field(client: TestClient, fixtures: Path) -> None:
    response = client.post(
        "/v1/analyze", files={"media": ("noface.jpg", (fixtures / "noface.jpg").read_bytes())}
    )
    assert "'file'" in error_message(response, 422, "invalid_parameters")


@pytest.mark.parametrize(
    "body",
    [{"json": {"file": "noface.jpg"}}, {"data": {"file": "noface.jpg"}}],
    ids=["json", "urlencoded"],
)
def test_non_multipart_body(client: TestClient, body: dict[str, Any]) -> None:
    message = error_message(client.post("/v1/analyze", **body), 422, "invalid_parameters")
    assert "multipart/form-data" in message


def test_malformed_multipart_body(client: TestClient) -> None:
    response = client.post(
        "/v1/analyze",
        content=b"this is not a multipart body",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert "multipart" in error_message(response, 400, "corrupt_media")


def test_multipart_body_without_closing_boundary(client: TestClient, fixtures: Path) -> None:
    body = (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="file"; filename="noface.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + (fixtures / "noface.jpg").read_bytes()
    )
    response = client.post(
        "/v1/analyze", content=body, headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert "cut off" in error_message(response, 400, "corrupt_media")


NOISE = bytes(range(256)) * 12
# Each decoder's error used to end with the upload's temp file, '/tmp/dfs-upload-...'.
CORRUPT_UPLOADS = {
    "pillow": ("photo.jpg", b"\xff\xd8\xff" + NOISE),  # "cannot identify image file '<path>'"
    "ffmpeg": ("clip.mkv", b"\x1a\x45\xdf\xa3" + NOISE),  # "Invalid data found...: '<path>'"
}


@pytest.fixture(scope="module")
def live_uploads(
    settings: Settings, analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, Settings]]:
    """A real server whose uploads go to a folder of their own (and job media to another)."""
    folder = tmp_path_factory.mktemp("live-uploads")
    configured = with_server(isolated(settings, folder), upload_dir=folder / "uploads")
    with live_server(configured, analyzer) as client:
        yield client, configured


@pytest.mark.parametrize("decoder", sorted(CORRUPT_UPLOADS))
def test_a_corrupt_upload_is_refused_without_a_server_path(
    live_uploads: tuple[httpx.Client, Settings], decoder: str
) -> None:
    client, configured = live_uploads
    name, content = CORRUPT_UPLOADS[decoder]
    response = client.post("/v1/analyze", files={"file": (name, content)})
    error_message(response, 400, "corrupt_media")
    assert configured.server.upload_dir is not None
    assert_no_server_path(response.text, configured.server.upload_dir)


def test_a_truncated_video_is_refused_without_a_server_path(
    live_uploads: tuple[httpx.Client, Settings], fixtures: Path
) -> None:
    client, configured = live_uploads
    video = fixtures / "truncated.mp4"
    response = client.post("/v1/analyze", files={"file": (video.name, video.read_bytes())})
    message = error_message(response, 400, "corrupt_media")
    assert message == "cannot open mp4 video: Invalid data found when processing input"
    assert configured.server.upload_dir is not None
    assert_no_server_path(response.text, configured.server.upload_dir)


def test_uploads_are_deleted_after_success_and_errors(
    client: TestClient, fixtures: Path, upload_dir: Path
) -> None:
    ok_result(post_fixture(client, fixtures / "noface.jpg"))
    # Only an upload makes the folder (conftest): uploads land in it, and none is left.
    assert upload_dir.is_dir() and list(upload_dir.iterdir()) == []
    error_message(post_fixture(client, fixtures / "truncated.mp4"), 400, "corrupt_media")
    assert list(upload_dir.iterdir()) == []
    error_message(
        client.post("/v1/analyze", files={"other": ("a", b"\xff\xd8\xff")}),
        422,
        "invalid_parameters",
    )
    assert list(upload_dir.iterdir()) == []


@pytest.fixture(scope="module")
def small_upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("small-uploads")


@pytest.fixture(scope="module")
def small_client(
    settings: Settings, analyzer: Analyzer, small_upload_dir: Path
) -> Iterator[TestClient]:
    limited = with_server(with_limits(settings, max_bytes=SMALL_LIMIT), upload_dir=small_upload_dir)
    with TestClient(build_app(limited, analyzer=analyzer)) as test_client:
        yield test_client


def test_declared_content_length_over_the_limit(
    small_client: TestClient, fixtures: Path, small_upload_dir: Path
) -> None:
    # photo.png is far larger than the limit plus the multipart allowance: refused up front.
    response = post_fixture(small_client, fixtures / "photo.png")
    assert int(response.request.headers["content-length"]) > 200_000
    message = error_message(response, 413, "file_too_large")
    assert message.startswith("upload is ") and str(SMALL_LIMIT) in message
    assert list(small_upload_dir.iterdir()) == []


def test_upload_cut_off_while_streaming(
    small_client: TestClient, fixtures: Path, small_upload_dir: Path
) -> None:
    # photo.jpg fits the multipart allowance, so only the count of received bytes catches it.
    response = post_fixture(small_client, fixtures / "photo.jpg")
    message = error_message(response, 413, "file_too_large")
    assert message == f"upload exceeds the limit of {SMALL_LIMIT} bytes"
    assert list(small_upload_dir.iterdir()) == []


def test_chunked_upload_without_content_length(
    small_client: TestClient, fixtures: Path, small_upload_dir: Path
) -> None:
    body, boundary = multipart((fixtures / "photo.png").read_bytes())

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = small_client.post(
        "/v1/analyze",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    message = error_message(response, 413, "file_too_large")
    assert message == f"upload exceeds the limit of {SMALL_LIMIT} bytes"
    assert list(small_upload_dir.iterdir()) == []


def test_size_limit_boundary(settings: Settings, analyzer: Analyzer, fixtures: Path) -> None:
    content = (fixtures / "noface.jpg").read_bytes()
    at_limit = build_app(with_limits(settings, max_bytes=len(content)), analyzer=analyzer)
    with TestClient(at_limit) as test_client:
        assert ok_result(post_media(test_client, content))["verdict"] == "no_face"
    below = build_app(with_limits(settings, max_bytes=len(content) - 1), analyzer=analyzer)
    with TestClient(below) as test_client:
        error_message(post_media(test_client, content), 413, "file_too_large")


def test_video_too_long(settings: Settings, fixtures: Path) -> None:
    # No analyzer passed: the app loads its own in the background, with these limits.
    app = build_app(with_limits(settings, max_duration_s=1))
    with TestClient(app) as test_client:
        assert test_client.get("/healthz").status_code == 200
        ready = wait_until_settled(test_client)
        assert ready.status_code == 200, ready.text
        response = post_fixture(test_client, fixtures / "real_hdtf_2s.mp4")
        error_message(response, 413, "duration_too_long")
        # A still image has no duration: the same app analyses it.
        assert ok_result(post_fixture(test_client, fixtures / "noface.jpg"))["verdict"] == (
            "no_face"
        )


@pytest.fixture(scope="module")
def single_slot_client(settings: Settings, analyzer: Analyzer) -> Iterator[TestClient]:
    one = with_server(settings, max_concurrent=1, max_queued=0)
    with TestClient(build_app(one, analyzer=analyzer)) as test_client:
        yield test_client


def test_single_slot_is_released_after_errors_and_answers(
    single_slot_client: TestClient, fixtures: Path
) -> None:
    # With room for exactly one request, a slot that leaked would turn the next one into 503.
    error_message(post_fixture(single_slot_client, fixtures / "corrupt.jpg"), 400, "corrupt_media")
    error_message(
        post_fixture(single_slot_client, fixtures / "noface.jpg", segments=0),
        422,
        "invalid_parameters",
    )
    for _ in range(2):
        ok_result(post_fixture(single_slot_client, fixtures / "noface.jpg"))


def _wav(samples: Any, rate: int = 16_000) -> bytes:
    import wave

    import numpy as np

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "real_dc_tts_LJ001-0010.flac",
        "speech_fsdd.wav",
        "speech_fsdd.mp3",
        "speech_fsdd.m4a",
        "speech_fsdd.opus",
        "fake_piper_joe.flac",
    ],
)
def test_an_audio_file_is_judged_on_its_voice(
    client: TestClient, fixtures: Path, name: str
) -> None:
    result = ok_result(post_fixture(client, fixtures / "audio" / name))
    audio = result["audio"]
    assert result["media"]["type"] == "audio"
    assert result["people"] == [] and result["face_verdict"] is None
    assert result["verdict"] == audio["verdict"] and result["probability"] == audio["probability"]
    assert audio["verdict"] in {"real", "fake", "uncertain"} and audio["speech_s"] >= 2.0
    assert audio["windows"] and all(0 <= w["probability"] <= 1 for w in audio["windows"])
    assert all(w["end_s"] <= audio["duration_s"] + 0.05 for w in audio["windows"])


def test_the_real_voice_of_an_unseen_microphone_is_not_called_fake(
    client: TestClient, fixtures: Path
) -> None:
    result = ok_result(post_fixture(client, fixtures / "audio" / "real_dc_tts_LJ001-0010.flac"))
    assert result["audio"]["verdict"] != "fake"


def test_a_video_with_speech_weighs_face_and_voice(client: TestClient, fixtures: Path) -> None:
    from deepfake_stream.detection.aggregate import Verdict
    from deepfake_stream.verdict import weigh_voice

    result = ok_result(post_fixture(client, fixtures / "audio" / "fake_dfdc_2s_speech.mp4"))
    assert result["media"]["type"] == "video" and result["people"]
    audio = result["audio"]
    assert audio["codec"] == "aac" and audio["speech_s"] > 1.0
    expected, _ = weigh_voice(Verdict(result["face_verdict"]), audio["verdict"])
    assert result["verdict"] == expected.value
    silent = ok_result(post_fixture(client, fixtures / "fake_dfdc_2s.mp4"))
    assert silent["audio"] is None and silent["verdict"] == silent["face_verdict"]


def test_too_little_speech_is_no_speech_not_a_guess(client: TestClient) -> None:
    import numpy as np

    silence = ok_result(post_media(client, _wav(np.zeros(16_000 * 4)), "silence.wav"))
    assert silence["verdict"] == "no_speech" and silence["probability"] is None
    assert silence["audio"]["speech_s"] < 2.0 and silence["audio"]["windows"] == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x07" * 200, "corrupt_media"),
        (b"fLaC" + b"\x00" * 100, "corrupt_media"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "corrupt_media"),
    ],
    ids=["wav-garbage", "flac-garbage", "id3-only"],
)
def test_bad_audio_gets_a_clear_json_error(client: TestClient, content: bytes, code: str) -> None:
    message = error_message(post_media(client, content, "voice.wav"), 400, code)
    assert_no_server_path(message)
