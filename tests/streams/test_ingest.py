"""Server-side readers on the committed fixtures: every frame offered in stream time, upright,
paced like a live source or as fast as decoded, and stopped on request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.audio.decode import SAMPLE_RATE, load_audio
from deepfake_stream.config import LimitSettings, SamplingSettings
from deepfake_stream.errors import InvalidParametersError
from deepfake_stream.media import Picture, load_media
from deepfake_stream.streams.ingest import StreamReader
from deepfake_stream.streams.sources import pinned_source
from support.receiver import RedirectingServer


class RecordingSession:
    """Takes every frame offered, as a session would when each is due."""

    stream_id = "test"

    def __init__(self, hears_voice: bool = True) -> None:
        self.offers: list[tuple[float, float, Picture]] = []  # (stream time, wall time, frame)
        self.sounds: list[tuple[float, np.ndarray]] = []  # (stream time, 16 kHz samples)
        self.hears_voice = hears_voice

    def offer(self, time_s: float, picture: object) -> bool:
        self.offers.append((time_s, time.monotonic(), picture()))  # type: ignore[operator]
        return True

    def offer_audio(self, time_s: float, samples: np.ndarray) -> None:
        self.sounds.append((time_s, samples))


def _read(
    source: Path | str, as_live: bool, allow_private: bool = True, hears_voice: bool = True
) -> tuple[RecordingSession, str, float]:
    session = RecordingSession(hears_voice)
    ended: list[str] = []
    done = threading.Event()

    def on_end(reason: str) -> None:
        ended.append(reason)
        done.set()

    began = time.monotonic()
    reader = StreamReader(
        source,
        session,  # type: ignore[arg-type]
        on_end,
        as_live=as_live,
        allow_private=allow_private,
    )
    reader.start()
    assert done.wait(60)
    return session, ended[0], time.monotonic() - began


def test_a_file_is_offered_frame_by_frame_from_time_zero(fixtures: Path) -> None:
    session, reason, _ = _read(fixtures / "fake_dfdc_2s.mp4", as_live=False)
    assert reason == "source ended"
    times = [offer[0] for offer in session.offers]
    assert times[0] == 0.0 and times == sorted(times) and 1.5 < times[-1] <= 2.0
    assert len(times) >= 45  # every frame of 2 s of video
    assert session.offers[0][2].size == (480, 270)


def test_the_sound_of_a_video_is_offered_beside_its_frames_in_the_same_time(
    fixtures: Path,
) -> None:
    video = fixtures / "audio" / "fake_dfdc_2s_speech.mp4"
    session, reason, _ = _read(video, as_live=False)
    assert reason == "source ended" and len(session.offers) >= 45
    times = [time_s for time_s, _ in session.sounds]
    assert times == sorted(times) and times[0] < 0.1
    samples = np.concatenate([chunk for _, chunk in session.sounds])
    assert samples.dtype == np.float32 and samples.ndim == 1
    track = load_audio(video, LimitSettings())
    assert track is not None
    assert len(samples) == pytest.approx(len(track.samples), abs=SAMPLE_RATE // 20)
    assert 0.01 < np.abs(samples).max() <= 1.0  # speech, in [-1, 1]


def test_an_audio_file_is_heard_alone_and_refused_when_the_voice_is_off(fixtures: Path) -> None:
    speech = fixtures / "audio" / "real_dc_tts_LJ001-0010.flac"
    session, reason, _ = _read(speech, as_live=False)
    assert reason == "source ended" and not session.offers
    heard = sum(len(chunk) for _, chunk in session.sounds) / SAMPLE_RATE
    assert heard == pytest.approx(load_audio(speech, LimitSettings()).duration_s, abs=0.05)
    deaf, reason, _ = _read(speech, as_live=False, hears_voice=False)
    assert not deaf.sounds and reason.endswith("the source holds no video (the voice is off)")


def test_a_file_played_as_live_keeps_its_own_pace(fixtures: Path) -> None:
    session, reason, took = _read(fixtures / "fake_dfdc_2s.mp4", as_live=True)
    assert reason == "source ended"
    last_time, last_wall, _ = session.offers[-1]
    assert took >= last_time * 0.9  # no faster than the video itself
    assert last_wall - session.offers[0][1] >= last_time * 0.9


def test_rotated_video_is_offered_upright_as_files_see_it(fixtures: Path) -> None:
    session, _, _ = _read(fixtures / "rotated90_2s.mp4", as_live=False)
    sampling = SamplingSettings(segments=1, frames_per_segment=1)
    (first,) = load_media(fixtures / "rotated90_2s.mp4", LimitSettings(), sampling).frames
    same_time = min(session.offers, key=lambda offer: abs(offer[0] - first.time_s))
    live = same_time[2].to_rgb().astype(float)
    assert np.abs(live - first.picture.to_rgb().astype(float)).mean() < 1.0
    assert np.abs(live - np.rot90(first.picture.to_rgb(), -1).astype(float)).mean() > 3.0


def test_a_reader_stops_when_asked_and_says_so(fixtures: Path) -> None:
    session = RecordingSession()
    ended: list[str] = []
    done = threading.Event()
    reader = StreamReader(
        fixtures / "fake_dfdc_2s.mp4",
        session,  # type: ignore[arg-type]
        lambda reason: (ended.append(reason), done.set()),
        as_live=True,
    )
    reader.start()
    time.sleep(0.5)
    reader.stop()
    assert done.wait(10) and ended == ["stopped"]
    assert session.offers and session.offers[-1][0] < 1.5


def test_a_source_that_cannot_be_opened_ends_with_its_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    session, reason, _ = _read(broken, as_live=False)
    assert reason.startswith("source error") and session.offers == []


def test_an_http_source_is_read_but_no_redirect_is_followed(fixtures: Path) -> None:
    server = RedirectingServer((fixtures / "fake_dfdc_2s.mp4").read_bytes(), "video/mp4")
    try:
        session, reason, _ = _read(f"{server.url}/target", as_live=False)
        assert reason == "source ended" and len(session.offers) > 10
        session, reason, _ = _read(f"{server.url}/redirect", as_live=False)
        assert reason.startswith("source error") and session.offers == []
        assert server.hits == {"/target": 1, "/redirect": 1}  # the redirect led nowhere
    finally:
        server.close()


def test_a_source_at_a_private_address_is_refused_when_opened(fixtures: Path) -> None:
    server = RedirectingServer((fixtures / "fake_dfdc_2s.mp4").read_bytes(), "video/mp4")
    try:
        session, reason, _ = _read(f"{server.url}/target", as_live=False, allow_private=False)
        assert reason.startswith("source refused") and "non-public" in reason
        assert session.offers == [] and server.hits == {}
    finally:
        server.close()


def test_the_opened_url_is_pinned_to_the_checked_address() -> None:
    with pinned_source("rtsp://cam:secret@localhost/cam?a=1", True, 5, 5) as (url, options):
        assert url in ("rtsp://cam:secret@127.0.0.1/cam?a=1", "rtsp://cam:secret@[::1]/cam?a=1")
        assert options == {}
    with pinned_source("rtmp://localhost:1936/live/key", True, 5, 5) as (url, options):
        assert url in ("rtmp://127.0.0.1:1936/live/key", "rtmp://[::1]:1936/live/key")


def test_a_private_rtsp_source_is_refused_before_ffmpeg_opens_it() -> None:
    with pytest.raises(InvalidParametersError, match="non-public"):
        with pinned_source("rtsps://localhost/cam", False, 5, 5):
            pass
