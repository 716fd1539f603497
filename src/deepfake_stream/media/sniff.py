"""Telling the media type from a file's first bytes, never from its name."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import (
    EmptyMediaError,
    UnsupportedMediaTypeError,
)

SNIFF_BYTES = 64
IMAGE_FORMATS = {"jpeg", "png", "webp", "bmp"}
VIDEO_FORMATS = {"mp4", "mov", "webm", "mkv", "avi"}
# ISO-BMFF brands that are still images, not videos.
STILL_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class MediaType:
    kind: MediaKind  # image or video
    format: str  # jpeg, png, webp, bmp, mp4, mov, webm, mkv or avi


def sniff(head: bytes) -> MediaType:
    """Tell the media type from the first bytes of a file; never from its name."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType(MediaKind.IMAGE, "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType(MediaKind.IMAGE, "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType(MediaKind.IMAGE, "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType(MediaKind.VIDEO, "avi")
    if head.startswith(b"BM") and len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return MediaType(MediaKind.IMAGE, "bmp")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType(MediaKind.VIDEO, "webm" if b"webm" in head else "mkv")
    box_type = head[4:8]
    if box_type == b"ftyp":
        brand = head[8:12]
        if brand in STILL_IMAGE_BRANDS:
            raise UnsupportedMediaTypeError(
                f"unsupported image format (ISO brand {brand.decode(errors='replace')!r}); "
                "send JPEG, PNG, WebP or BMP"
            )
        return MediaType(MediaKind.VIDEO, "mov" if brand == b"qt  " else "mp4")
    if box_type in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return MediaType(MediaKind.VIDEO, "mov")
    if not head:
        raise EmptyMediaError("the file is empty")
    raise UnsupportedMediaTypeError(
        "unsupported media type: send an image (JPEG, PNG, WebP, BMP) "
        "or a video (MP4, MOV, WebM, MKV, AVI)"
    )


def sniff_file(path: Path) -> MediaType:
    with path.open("rb") as handle:
        return sniff(handle.read(SNIFF_BYTES))
