from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import LimitSettings
from deepfake_stream.errors import (
    CorruptMediaError,
    InvalidFrameTimeError,
    InvalidParametersError,
    TooManyPixelsError,
    UnsupportedMediaTypeError,
)
from deepfake_stream.streams.frames import (
    MAX_FRAME_TIME_S,
    FrameClock,
    decode_frame,
    parse_client_text,
    parse_frame_message,
)


def test_frames_that_are_not_images_are_refused(fixtures: Path) -> None:
    limits = LimitSettings()
    picture = decode_frame((fixtures / "photo.png").read_bytes(), limits)
    assert picture.size == Image.open(fixtures / "photo.png").size
    with pytest.raises(UnsupportedMediaTypeError):
        decode_frame((fixtures / "tiny.webm").read_bytes(), limits)
    with pytest.raises(CorruptMediaError):
        decode_frame((fixtures / "corrupt.jpg").read_bytes(), limits)


def test_a_frame_message_is_its_time_then_an_image_decoded_only_when_asked(
    fixtures: Path,
) -> None:
    image = (fixtures / "photo.jpg").read_bytes()
    time_s, picture = parse_frame_message(
        struct.pack(">d", 12.25) + image, LimitSettings(), FrameClock()
    )
    assert time_s == 12.25
    expected = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB"))
    assert picture().size == (expected.shape[1], expected.shape[0])
    # Not decoded until asked: a bad image fails then, not while the message is read.
    _, broken = parse_frame_message(
        struct.pack(">d", 1.0) + b"not an image", LimitSettings(), FrameClock()
    )
    with pytest.raises(UnsupportedMediaTypeError):
        broken()
    with pytest.raises(InvalidParametersError, match="too short"):
        parse_frame_message(struct.pack(">d", 1.0), LimitSettings(), FrameClock())
    _, huge = parse_frame_message(
        struct.pack(">d", 0.0) + image, LimitSettings(max_image_pixels=100), FrameClock()
    )
    with pytest.raises(TooManyPixelsError):
        huge()


def test_a_streams_frame_times_are_finite_sane_and_never_go_backwards() -> None:
    clock = FrameClock()
    for time_s in (0.0, 0.0, 1.5, 1.7e9):  # repeats and epoch seconds are fine
        clock.check(time_s)
    for bad in (math.nan, math.inf, -math.inf, -0.5, -7.02e307, MAX_FRAME_TIME_S * 2, 2.0):
        with pytest.raises(InvalidFrameTimeError):
            clock.check(bad)
    assert clock.last_s == 1.7e9  # a refused time leaves the clock where it was


@pytest.mark.parametrize(
    "text", ['{"type":"close"}', '{ "type": "close" }\n', '{"type": "close", "reason": "done"}']
)
def test_a_close_message_is_json_whatever_its_spacing(text: str) -> None:
    assert parse_client_text(text).type == "close"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "must be a JSON object with a type"),
        ('["close"]', "must be a JSON object with a type"),
        ('{"kind": "close"}', "must be a JSON object with a type"),
        ('{"type": "pause"}', "unknown message type 'pause'"),
    ],
)
def test_other_text_messages_say_what_is_accepted(text: str, expected: str) -> None:
    with pytest.raises(InvalidParametersError, match=expected) as refused:
        parse_client_text(text)
    assert '{"type": "close"}' in refused.value.message
