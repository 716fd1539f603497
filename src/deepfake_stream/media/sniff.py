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
AUDIO_FORMATS = {"wav", "flac", "mp3", "aac", "ogg", "m4a"}
STILL_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


@dataclass(frozen=True)
class MediaType:
    kind: MediaKind  # image, video or audio
    format: str  # one of IMAGE_FORMATS, VIDEO_FORMATS or AUDIO_FORMATS


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
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return MediaType(MediaKind.AUDIO, "wav")
    if head.startswith(b"fLaC"):
        return MediaType(MediaKind.AUDIO, "flac")
    if head.startswith(b"OggS"):
        return MediaType(MediaKind.AUDIO, "ogg")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        # MPEG audio frame sync: layer bits 00 mean ADTS (AAC), anything else MPEG-1/2 audio.
        adts = not head.startswith(b"ID3") and head[1] & 0x06 == 0
        return MediaType(MediaKind.AUDIO, "aac" if adts else "mp3")
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
        if brand in AUDIO_BRANDS:
            return MediaType(MediaKind.AUDIO, "m4a")
        return MediaType(MediaKind.VIDEO, "mov" if brand == b"qt  " else "mp4")
    if box_type in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return MediaType(MediaKind.VIDEO, "mov")
    if not head:
        raise EmptyMediaError("the file is empty")
    raise UnsupportedMediaTypeError(
        "unsupported media type: send an image (JPEG, PNG, WebP, BMP), "
        "a video (MP4, MOV, WebM, MKV, AVI) or audio (WAV, FLAC, MP3, AAC, M4A, Ogg/Opus)"
    )


def sniff_file(path: Path) -> MediaType:
    with path.open("rb") as handle:
        return sniff(handle.read(SNIFF_BYTES))
