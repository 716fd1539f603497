from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.errors import (
    EmptyMediaError,
    UnsupportedMediaTypeError,
)
from deepfake_stream.media import (
    MediaKind,
    MediaType,
    sniff,
    sniff_file,
    without_video,
)


@pytest.mark.parametrize(
    ("name", "kind", "fmt"),
    [
        ("photo.jpg", MediaKind.IMAGE, "jpeg"),
        ("photo.png", MediaKind.IMAGE, "png"),
        ("photo.webp", MediaKind.IMAGE, "webp"),
        ("photo.bmp", MediaKind.IMAGE, "bmp"),
        ("real_hdtf_2s.mp4", MediaKind.VIDEO, "mp4"),
        ("tiny.mov", MediaKind.VIDEO, "mov"),
        ("tiny.webm", MediaKind.VIDEO, "webm"),
        ("tiny.mkv", MediaKind.VIDEO, "mkv"),
        ("tiny.avi", MediaKind.VIDEO, "avi"),
        ("audio/speech_fsdd.wav", MediaKind.AUDIO, "wav"),
        ("audio/speech_fsdd.flac", MediaKind.AUDIO, "flac"),
        ("audio/speech_fsdd.mp3", MediaKind.AUDIO, "mp3"),
        ("audio/speech_fsdd.opus", MediaKind.AUDIO, "ogg"),
        ("audio/speech_fsdd.m4a", MediaKind.AUDIO, "m4a"),
    ],
)
def test_sniff_reads_the_bytes_not_the_name(
    fixtures: Path, tmp_path: Path, name: str, kind: MediaKind, fmt: str
) -> None:
    misnamed = tmp_path / "upload.txt"
    misnamed.write_bytes((fixtures / name).read_bytes())
    media_type = sniff_file(misnamed)
    assert (media_type.kind, media_type.format) == (kind, fmt)


@pytest.mark.parametrize(
    "head",
    [b"GIF89a\x01\x00", b"%PDF-1.7\n", b"hello world", b"\x00\x00\x00\x18ftypheic\x00\x00"],
)
def test_sniff_rejects_other_types(head: bytes) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        sniff(head)


def test_sniff_empty_file_is_an_empty_media_error() -> None:
    with pytest.raises(EmptyMediaError):
        sniff(b"")


def test_an_adts_stream_is_aac_audio_not_mp3() -> None:
    assert sniff(b"\xff\xf1\x50\x80\x02\x1f\xfc") == MediaType(MediaKind.AUDIO, "aac")
    assert sniff(b"\xff\xfb\x90\x64\x00") == MediaType(MediaKind.AUDIO, "mp3")


def test_a_video_container_with_only_sound_is_audio(fixtures: Path, tmp_path: Path) -> None:
    """A browser's recorded microphone: WebM (Matroska) with one Opus track and no picture."""
    import av
    import numpy as np

    recording = tmp_path / "microphone.webm"
    with av.open(str(recording), "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 48_000), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    sniffed = sniff_file(recording)
    assert sniffed == MediaType(MediaKind.VIDEO, "webm")  # the bytes alone cannot tell
    assert without_video(recording, sniffed) == MediaType(MediaKind.AUDIO, "webm")
    video = fixtures / "tiny.webm"
    assert without_video(video, sniff_file(video)).kind is MediaKind.VIDEO
