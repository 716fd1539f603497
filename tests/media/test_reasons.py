"""Decoders' errors reach clients without the server's path of the file (media/reasons.py)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from deepfake_stream.config import LimitSettings, SamplingSettings
from deepfake_stream.errors import CorruptMediaError
from deepfake_stream.media import load_media
from deepfake_stream.media.reasons import decoder_reason

NOISE = random.Random(0).randbytes(3000)
# A type's signature, then noise: the sniffer takes it, its decoder refuses it. Before
# decoder_reason each message ended with the file's path (Pillow's "cannot identify image file
# '<path>'", FFmpeg's "Invalid data found when processing input: '<path>'").
SIGNED_NOISE = {
    "jpeg": b"\xff\xd8\xff" + NOISE,
    "png": b"\x89PNG\r\n\x1a\n" + NOISE,
    "mkv": b"\x1a\x45\xdf\xa3" + NOISE,
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + NOISE,
}


@pytest.mark.parametrize("kind", sorted(SIGNED_NOISE))
def test_a_corrupt_file_is_reported_without_its_path(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"server-side-name.{kind}"
    path.write_bytes(SIGNED_NOISE[kind])
    with pytest.raises(CorruptMediaError) as raised:
        load_media(path, LimitSettings(), SamplingSettings())
    assert "server-side-name" not in raised.value.message
    assert str(tmp_path) not in raised.value.message


def test_a_truncated_video_is_reported_without_its_path(fixtures: Path, tmp_path: Path) -> None:
    path = shutil.copy(fixtures / "truncated.mp4", tmp_path / "server-side-name.mp4")
    with pytest.raises(CorruptMediaError) as raised:
        load_media(Path(path), LimitSettings(), SamplingSettings())
    assert raised.value.message == (
        "cannot open mp4 video: Invalid data found when processing input"
    )


def test_an_os_error_keeps_its_reason_and_drops_its_file(tmp_path: Path) -> None:
    with pytest.raises(OSError) as raised:
        (tmp_path / "missing").open("rb")
    assert decoder_reason(raised.value) == "No such file or directory"
