from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.errors import (
    EmptyMediaError,
    UnsupportedMediaTypeError,
)
from deepfake_stream.media import (
    MediaKind,
    sniff,
    sniff_file,
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
