"""HTTP(S) stream sources read through the checked client, against real HTTP servers on
loopback: an MP4 whose index is at its end, HLS playlists and segments, and SSRF through a
segment on another host or a name that rebinds. For the SSRF cases the tests call 127.0.0.1
"public" (the test's internet) and keep every other address as the guard sees it."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from deepfake_stream import network
from deepfake_stream.streams.ingest import StreamReader
from support.receiver import FileServer

INTERNET = "127.0.0.1"
PRIVATE = "127.0.0.2"


class RecordingSession:
    stream_id = "test"

    def __init__(self) -> None:
        self.times: list[float] = []

    def offer(self, time_s: float, picture: object) -> bool:
        self.times.append(time_s)
        return True


def _read(
    source: str, allow_private: bool, max_spool_bytes: int = 1 << 30
) -> tuple[list[float], str]:
    session = RecordingSession()
    ended: list[str] = []
    done = threading.Event()
    reader = StreamReader(
        source,
        session,  # type: ignore[arg-type]
        lambda reason: (ended.append(reason), done.set()),
        as_live=False,
        allow_private=allow_private,
        max_spool_bytes=max_spool_bytes,
    )
    reader.start()
    assert done.wait(60)
    return session.times, ended[0]


@pytest.fixture
def internet(monkeypatch: pytest.MonkeyPatch) -> None:
    real = network.is_public
    monkeypatch.setattr(network, "is_public", lambda address: address == INTERNET or real(address))


@pytest.fixture
def hls(tmp_path: Path, fixtures: Path) -> Path:
    """The 2 s fixture as an HLS playlist of 0.5 s MPEG-TS segments (a keyframe each 0.4 s),
    encoded and muxed by FFmpeg."""
    with (
        av.open(str(fixtures / "fake_dfdc_2s.mp4")) as source,
        av.open(
            str(tmp_path / "live.m3u8"),
            "w",
            format="hls",
            options={"hls_time": "0.5", "hls_list_size": "0"},
        ) as playlist,
    ):
        video = playlist.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 480, 270, "yuv420p"
        video.codec_context.gop_size = 12
        for frame in source.decode(video=0):
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            playlist.mux(video.encode(picture))
        playlist.mux(video.encode())
    return tmp_path


def _segments(folder: Path) -> list[str]:
    return [
        line for line in (folder / "live.m3u8").read_text().splitlines() if line.endswith(".ts")
    ]


@pytest.fixture
def index_at_end(tmp_path: Path) -> Path:
    """An MP4 of 25 frames of noise (about 300 KB, beyond FFmpeg's read buffer), written the
    way encoders write by default: samples first, index (moov) at the end."""
    rng = np.random.default_rng(0)
    with av.open(str(tmp_path / "noise.mp4"), "w") as movie:
        video = movie.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        video.bit_rate = 50_000_000
        for _ in range(25):
            noise = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            movie.mux(video.encode(av.VideoFrame.from_ndarray(noise, format="rgb24")))
        movie.mux(video.encode())
    return tmp_path


def test_an_mp4_with_its_index_at_the_end_is_read_from_a_server_without_ranges(
    index_at_end: Path,
) -> None:
    assert (index_at_end / "noise.mp4").stat().st_size > 200_000
    server = FileServer(index_at_end)
    try:
        times, reason = _read(f"{server.url}/noise.mp4", allow_private=True)
        assert reason == "source ended" and len(times) == 25
        assert server.hits == {"/noise.mp4": 1}  # spooled as read, fetched once
        # Larger than the spool may hold: a clear reason and the fix, not an I/O error.
        times, reason = _read(f"{server.url}/noise.mp4", True, max_spool_bytes=100_000)
        assert reason.startswith("source error: index_at_end") and "+faststart" in reason
        assert times == []
    finally:
        server.close()


def test_an_hls_source_is_read_segment_by_segment(hls: Path, internet: None) -> None:
    server = FileServer(hls, INTERNET)
    try:
        times, reason = _read(f"{server.url}/live.m3u8", allow_private=False)
        assert reason == "source ended" and len(times) >= 45
        assert len(_segments(hls)) >= 3
        assert all(server.hits.get(f"/{segment}") == 1 for segment in _segments(hls))
    finally:
        server.close()


def test_an_hls_segment_on_a_private_host_is_never_fetched(hls: Path, internet: None) -> None:
    private = FileServer(hls, PRIVATE)
    playlist = (hls / "live.m3u8").read_text()
    for segment in _segments(hls):
        playlist = playlist.replace(segment, f"{private.url}/{segment}")
    (hls / "elsewhere.m3u8").write_text(playlist)
    public = FileServer(hls, INTERNET)
    try:
        times, _ = _read(f"{public.url}/elsewhere.m3u8", allow_private=False)
        assert public.hits == {"/elsewhere.m3u8": 1}
        assert times == [] and private.hits == {}
        # The same playlist where private addresses are allowed: the segments are read.
        times, _ = _read(f"{public.url}/elsewhere.m3u8", allow_private=True)
        assert len(times) >= 45 and len(private.hits) == len(_segments(hls))
    finally:
        public.close()
        private.close()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A resolver whose names answer the test's internet once, then a private address."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
            return real(host, port, *args, **kwargs)
        except ValueError:
            answers.append(INTERNET if not answers else PRIVATE)
            return real(answers[-1], port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield answers


def test_a_rebinding_name_never_reaches_the_private_address(
    hls: Path, internet: None, rebinding: list[str]
) -> None:
    public = FileServer(hls, INTERNET)
    private = FileServer(hls, PRIVATE, public.port)  # the same name and port, rebound
    try:
        times, _ = _read(f"http://cdn.example:{public.port}/live.m3u8", allow_private=False)
        assert public.hits == {"/live.m3u8": 1} and private.hits == {}
        assert times == [] and rebinding[:2] == [INTERNET, PRIVATE]
    finally:
        public.close()
        private.close()
