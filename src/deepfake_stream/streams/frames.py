"""A client's frame message on WS /v1/streams: an 8-byte big-endian float64 (the frame's stream
time in seconds), then a JPEG, PNG, WebP or BMP image. The image is decoded only when the
session's sampler keeps the frame."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from functools import partial

from ..config import LimitSettings
from ..errors import InvalidParametersError, UnsupportedMediaTypeError
from ..media import SNIFF_BYTES, ImagePicture, MediaKind, decode_image, sniff

TIMESTAMP = struct.Struct(">d")


def decode_frame(data: bytes, limits: LimitSettings) -> ImagePicture:
    """A client's JPEG/PNG/WebP/BMP frame as a picture; the media errors otherwise."""
    media_type = sniff(data[:SNIFF_BYTES])
    if media_type.kind is not MediaKind.IMAGE:
        raise UnsupportedMediaTypeError("a stream frame must be an image (JPEG, PNG, WebP, BMP)")
    picture, _ = decode_image(io.BytesIO(data), media_type, limits)
    return picture


def parse_frame_message(
    data: bytes, limits: LimitSettings
) -> tuple[float, Callable[[], ImagePicture]]:
    """The frame's stream time, and a way to decode its image later."""
    if len(data) <= TIMESTAMP.size:
        raise InvalidParametersError("a frame message is too short: float64 time, then the image")
    (time_s,) = TIMESTAMP.unpack_from(data)
    return time_s, partial(decode_frame, data[TIMESTAMP.size :], limits)
