"""Audio decoding on real speech (tests/fixtures/audio): every container and codec the voice
branch takes, a video's sound track, silence, damage and the duration limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.audio.decode import SAMPLE_RATE, load_audio
from deepfake_stream.config import LimitSettings
from deepfake_stream.errors import CorruptMediaError, DurationTooLongError

CLIP_S = 4.125  # speech_fsdd.wav


def _envelope(samples: np.ndarray) -> np.ndarray:
    """Loudness per 50 ms: what lossy codecs keep of speech."""
    frames = samples[: len(samples) // 800 * 800].reshape(-1, 800)
    return np.sqrt((frames**2).mean(axis=1))


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("speech_fsdd.wav", "pcm_s16le"),
        ("speech_fsdd.flac", "flac"),
        ("speech_fsdd.mp3", "mp3"),
        ("speech_fsdd.opus", "opus"),
        ("speech_fsdd.m4a", "aac"),
    ],
)
def test_each_format_decodes_to_the_same_16_khz_mono_speech(
    fixtures: Path, name: str, codec: str
) -> None:
    reference = load_audio(fixtures / "audio" / "speech_fsdd.wav", LimitSettings())
    audio = load_audio(fixtures / "audio" / name, LimitSettings())
    assert audio is not None and reference is not None
    assert audio.codec.startswith(codec) and audio.source_rate in (8000, 16000, 48000)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration_s - CLIP_S) < 0.1  # encoder padding at most
    assert np.abs(audio.samples).max() <= 1.0 and _envelope(audio.samples).max() > 0.02
    # The same words at the same moments, whatever the codec did to the waveform.
    n = min(len(_envelope(audio.samples)), len(_envelope(reference.samples)))
    shift = 2  # up to 100 ms of encoder delay
    best = max(
        np.corrcoef(
            _envelope(audio.samples)[s : n - shift + s], _envelope(reference.samples)[: n - shift]
        )[0, 1]
        for s in range(shift + 1)
    )
    assert best > 0.9


def test_a_videos_sound_track_is_its_audio_and_a_silent_video_has_none(fixtures: Path) -> None:
    audio = load_audio(fixtures / "audio" / "fake_dfdc_2s_speech.mp4", LimitSettings())
    assert audio is not None and audio.codec == "aac" and 1.9 < audio.duration_s < 2.5
    assert load_audio(fixtures / "fake_dfdc_2s.mp4", LimitSettings()) is None


def test_damaged_audio_is_a_media_error_that_names_no_path(tmp_path: Path) -> None:
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMediaError) as refused:
        load_audio(noise, LimitSettings())
    assert str(tmp_path) not in refused.value.message


def test_audio_past_the_duration_limit_is_refused(fixtures: Path) -> None:
    with pytest.raises(DurationTooLongError):
        load_audio(fixtures / "audio" / "speech_fsdd.flac", LimitSettings(max_duration_s=2.0))
    assert SAMPLE_RATE == 16_000
