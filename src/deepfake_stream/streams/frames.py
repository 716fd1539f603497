"""A client's messages on WS /v1/streams. A frame is a binary message: an 8-byte big-endian
float64 (the frame's stream time in seconds), then a JPEG, PNG, WebP or BMP image, decoded only
when the session's sampler keeps the frame. An audio chunk is a binary message: the float64 time
of its first sample, the 4 bytes `PCM1`, then 16-bit little-endian mono samples at 16 kHz. A
text message is a JSON object with a `type`; the one type today is `close` (end the stream, as
closing the socket does)."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from functools import partial

import numpy as np
from pydantic import BaseModel, ValidationError

from ..config import LimitSettings
from ..errors import InvalidFrameTimeError, InvalidParametersError, UnsupportedMediaTypeError
from ..media import SNIFF_BYTES, ImagePicture, MediaKind, decode_image, sniff

TIMESTAMP = struct.Struct(">d")
CLIENT_MESSAGE_TYPES = ("close",)
# No stream runs this long: a larger time is bytes that were never a time (seconds since the
# Unix epoch are well within it).
MAX_FRAME_TIME_S = 1e12


AUDIO_TAG = b"PCM1"
AUDIO_RATE = 16_000
MAX_AUDIO_CHUNK_S = 10.0  # one message holds at most this much sound


class FrameClock:
    """A stream's frame times: finite, not negative, not absurd, and never going backwards."""

    def __init__(self) -> None:
        self.last_s: float | None = None

    def check(self, time_s: float) -> None:
        if not math.isfinite(time_s) or time_s < 0 or time_s > MAX_FRAME_TIME_S:
            raise InvalidFrameTimeError(
                f"a frame's time must be seconds from 0 to {MAX_FRAME_TIME_S:g} (an 8-byte "
                f"big-endian float64 before the image), not {time_s!r}"
            )
        if self.last_s is not None and time_s < self.last_s:
            raise InvalidFrameTimeError(
                f"frame times must not go backwards: {time_s:g} s after {self.last_s:g} s"
            )
        self.last_s = time_s


def decode_frame(data: bytes, limits: LimitSettings) -> ImagePicture:
    """A client's JPEG/PNG/WebP/BMP frame as a picture; the media errors otherwise."""
    media_type = sniff(data[:SNIFF_BYTES])
    if media_type.kind is not MediaKind.IMAGE:
        raise UnsupportedMediaTypeError("a stream frame must be an image (JPEG, PNG, WebP, BMP)")
    picture, _ = decode_image(io.BytesIO(data), media_type, limits)
    return picture


def parse_frame_message(
    data: bytes, limits: LimitSettings, clock: FrameClock
) -> tuple[float, Callable[[], ImagePicture]]:
    """The frame's stream time (checked against the stream's clock), and a way to decode its
    image later."""
    if len(data) <= TIMESTAMP.size:
        raise InvalidParametersError("a frame message is too short: float64 time, then the image")
    (time_s,) = TIMESTAMP.unpack_from(data)
    clock.check(time_s)
    return time_s, partial(decode_frame, data[TIMESTAMP.size :], limits)


def is_audio_message(data: bytes) -> bool:
    return data[TIMESTAMP.size : TIMESTAMP.size + len(AUDIO_TAG)] == AUDIO_TAG


def parse_audio_message(data: bytes, clock: FrameClock) -> tuple[float, np.ndarray]:
    """An audio chunk's stream time (checked against the stream's audio clock) and its samples
    as float32 in [-1, 1]."""
    pcm = data[TIMESTAMP.size + len(AUDIO_TAG) :]
    if not pcm or len(pcm) % 2:
        raise InvalidParametersError(
            "an audio message holds whole 16-bit samples after float64 time and PCM1"
        )
    if len(pcm) // 2 > MAX_AUDIO_CHUNK_S * AUDIO_RATE:
        raise InvalidParametersError(
            f"an audio message holds at most {MAX_AUDIO_CHUNK_S:g} s (16 kHz): send it in parts"
        )
    (time_s,) = TIMESTAMP.unpack_from(data)
    clock.check(time_s)
    return time_s, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


class ClientMessage(BaseModel):
    """A text message from the client: JSON, any spacing, other fields ignored."""

    type: str


def parse_client_text(text: str) -> ClientMessage:
    """The client's text message, or InvalidParametersError saying what is accepted."""
    accepted = ", ".join(f'{{"type": "{kind}"}}' for kind in CLIENT_MESSAGE_TYPES)
    try:
        message = ClientMessage.model_validate_json(text)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise InvalidParametersError(
            f"a text message must be a JSON object with a type ({accepted}): {problem}; "
            "frames go as binary messages: float64 time, then the image"
        ) from exc
    if message.type not in CLIENT_MESSAGE_TYPES:
        raise InvalidParametersError(f"unknown message type {message.type[:40]!r}: {accepted}")
    return message
