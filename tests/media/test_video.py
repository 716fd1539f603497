from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from deepfake_stream.config import LimitSettings, SamplingSettings
from deepfake_stream.deadline import Deadline
from deepfake_stream.errors import (
    AnalysisTimeoutError,
    CorruptMediaError,
    DurationTooLongError,
    EmptyMediaError,
    FileTooLargeError,
    TooManyPixelsError,
)
from deepfake_stream.media import (
    MediaKind,
    load_media,
    sample_times,
    upright_rotation,
)

LIMITS = LimitSettings()
SAMPLING = SamplingSettings()


def test_sample_times_are_centred_in_each_segment() -> None:
    times = sample_times(8.0, SamplingSettings(segments=4, frames_per_segment=2))
    assert times == [(0, 0.5), (0, 1.5), (1, 2.5), (1, 3.5), (2, 4.5), (2, 5.5), (3, 6.5), (3, 7.5)]


def test_video_sampling_takes_k_frames_per_segment(fixtures: Path) -> None:
    media = load_media(fixtures / "real_hdtf_2s.mp4", LIMITS, SAMPLING)
    info = media.info
    assert (info.kind, info.width, info.height) == (MediaKind.VIDEO, 256, 256)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert len(media.frames) == SAMPLING.segments * SAMPLING.frames_per_segment
    segment_length = info.duration_s / SAMPLING.segments
    for frame in media.frames:
        # The frame on screen at the target time: inside its segment, up to one frame early.
        assert frame.segment * segment_length - 0.04 <= frame.time_s
        assert frame.time_s < (frame.segment + 1) * segment_length
    times = [frame.time_s for frame in media.frames]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_short_video_never_samples_a_frame_twice(fixtures: Path) -> None:
    media = load_media(
        fixtures / "tiny.mkv", LIMITS, SamplingSettings(segments=8, frames_per_segment=8)
    )
    times = [frame.time_s for frame in media.frames]
    assert len(times) == len(set(times)) == 13  # 0.52 s at 25 fps: every frame, once


def test_variable_frame_rate_uses_timestamps(fixtures: Path) -> None:
    media = load_media(
        fixtures / "vfr_2s.mkv", LIMITS, SamplingSettings(segments=2, frames_per_segment=4)
    )
    with av.open(str(fixtures / "vfr_2s.mkv")) as container:
        stamps = sorted(float(f.time) for f in container.decode(video=0))
    duration = media.info.duration_s
    assert duration is not None
    for frame, (_, target) in zip(
        media.frames,
        sample_times(duration, SamplingSettings(segments=2, frames_per_segment=4)),
        strict=False,
    ):
        # The picked frame is the last one shown at or before the target time.
        shown = max(t for t in stamps if t <= target + 1e-6)
        assert frame.time_s == pytest.approx(shown, abs=1e-3)
    # Sparse first second (5 fps), dense second part: times are not index * (1 / fps).
    assert min(np.diff(stamps)) < 0.1 < max(np.diff(stamps))


def test_rotation_metadata_is_honoured(fixtures: Path) -> None:
    plain = load_media(fixtures / "real_hdtf_2s.mp4", LIMITS, SAMPLING)
    rotated = load_media(fixtures / "rotated90_2s.mp4", LIMITS, SAMPLING)
    assert rotated.info.rotation == 90
    a = plain.frames[0].picture.to_rgb().astype(float)
    b = rotated.frames[0].picture.to_rgb().astype(float)
    # Same upright picture, up to re-encoding noise; far from the raw, turned pixels.
    assert np.abs(a - b).mean() < 6.0
    assert np.abs(a - np.rot90(b, -1)).mean() > 3 * np.abs(a - b).mean()


def test_seeking_picks_the_same_frames_as_decoding_forward(fixtures: Path) -> None:
    forward = load_media(
        fixtures / "real_hdtf_2s.mp4", LIMITS, SamplingSettings(segments=4, frames_per_segment=1)
    )
    seeking = load_media(
        fixtures / "real_hdtf_2s.mp4",
        LIMITS,
        SamplingSettings(segments=4, frames_per_segment=1, seek_threshold_s=0.01),
    )
    assert [f.time_s for f in seeking.frames] == [f.time_s for f in forward.frames]
    for a, b in zip(forward.frames, seeking.frames, strict=True):
        assert np.array_equal(a.picture.to_rgb(), b.picture.to_rgb())


@pytest.mark.parametrize("name", ["tiny.mov", "tiny.webm", "tiny.mkv", "tiny.avi"])
def test_every_container_decodes(fixtures: Path, name: str) -> None:
    media = load_media(fixtures / name, LIMITS, SAMPLING)
    assert media.frames and media.info.width == 128


def test_corrupt_and_truncated_files_are_corrupt_media(fixtures: Path) -> None:
    for name in ("corrupt.jpg", "truncated.mp4"):
        with pytest.raises(CorruptMediaError):
            load_media(fixtures / name, LIMITS, SAMPLING)


def test_zero_length_video_is_empty_media(fixtures: Path) -> None:
    with pytest.raises(EmptyMediaError):
        load_media(fixtures / "empty.mp4", LIMITS, SAMPLING)


def test_byte_limit(fixtures: Path) -> None:
    with pytest.raises(FileTooLargeError):
        load_media(fixtures / "photo.jpg", LimitSettings(max_bytes=1000), SAMPLING)


def test_duration_limit(fixtures: Path) -> None:
    with pytest.raises(DurationTooLongError):
        load_media(fixtures / "real_hdtf_2s.mp4", LimitSettings(max_duration_s=1.0), SAMPLING)


def test_video_pixel_limit(fixtures: Path) -> None:
    with pytest.raises(TooManyPixelsError):
        load_media(
            fixtures / "real_hdtf_2s.mp4", LimitSettings(max_video_pixels=256 * 255), SAMPLING
        )


def test_a_video_cut_short_is_analysed_with_a_warning(fixtures: Path) -> None:
    media = load_media(fixtures / "truncated_faststart.mp4", LIMITS, SAMPLING)
    assert media.info.duration_s == pytest.approx(2.0, abs=0.05)  # what the header declares
    assert 0 < len(media.frames) < 32
    assert max(frame.segment for frame in media.frames) < SAMPLING.segments - 1
    assert any("truncated" in warning for warning in media.warnings)


def test_complete_videos_carry_no_warning(fixtures: Path) -> None:
    for name in ("real_hdtf_2s.mp4", "vfr_2s.mkv", "tiny.webm"):
        assert load_media(fixtures / name, LIMITS, SAMPLING).warnings == []


def test_decoding_stops_at_the_deadline(fixtures: Path) -> None:
    expired = Deadline(limit_s=1.0, expires_at=time.monotonic() - 1.0)
    with pytest.raises(AnalysisTimeoutError, match="limit of 1 s .*decoding"):
        load_media(fixtures / "real_hdtf_2s.mp4", LIMITS, SAMPLING, deadline=expired)
    live = Deadline.starting_now(60.0)
    assert load_media(fixtures / "tiny.webm", LIMITS, SAMPLING, deadline=live).frames


@pytest.mark.parametrize(
    ("degrees", "upright"),
    [(0, 0), (90, 90), (-90, 270), (180, 180), (-45, 0), (-46, 270), (135, 180), (-(2**31), 0)],
)
def test_display_matrices_turn_frames_by_whole_quarter_turns(degrees: int, upright: int) -> None:
    # -2**31: a degenerate (all-zero) matrix, whose NaN angle PyAV casts to INT_MIN.
    assert upright_rotation(degrees) == upright
