"""Speech found in real speech (tests/fixtures/audio), and not in silence or steady noise; the
windows a voice verdict would rest on."""

from __future__ import annotations

import numpy as np

from deepfake_stream.audio.decode import SAMPLE_RATE, Audio
from deepfake_stream.audio.speech import (
    MIN_SPEECH_S,
    WINDOW_S,
    speech_frames,
    speech_seconds,
    speech_windows,
)


def _audio(*parts: np.ndarray) -> Audio:
    return Audio(np.concatenate(parts).astype(np.float32), "test", SAMPLE_RATE)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def _noise(seconds: float, level: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0.0, level, int(seconds * SAMPLE_RATE)).astype(np.float32)


def test_spoken_digits_are_speech_and_windows_cover_them(speech: np.ndarray) -> None:
    frames = speech_frames(_audio(speech))
    assert speech_seconds(frames) > MIN_SPEECH_S
    windows = speech_windows(frames)
    assert windows and windows[0].start_s == 0.0
    assert all(w.end_s - w.start_s <= WINDOW_S + 1e-9 for w in windows)
    assert all(w.speech_s >= (w.end_s - w.start_s) / 2 for w in windows)


def test_silence_and_steady_noise_hold_no_speech() -> None:
    for sound in (_silence(6.0), _noise(6.0), _noise(6.0, level=0.3)):
        frames = speech_frames(_audio(sound))
        assert speech_seconds(frames) < 0.3 and speech_windows(frames) == []


def test_windows_follow_the_speech_through_silence_and_noise(speech: np.ndarray) -> None:
    frames = speech_frames(_audio(_silence(4.0), speech, _noise(4.0)))
    windows = speech_windows(frames)
    assert windows, "the speech in the middle"
    assert min(w.start_s for w in windows) >= 1.5  # nothing from the silence alone
    assert max(w.end_s for w in windows) <= 4.0 + len(speech) / SAMPLE_RATE + WINDOW_S / 2
    assert MIN_SPEECH_S < speech_seconds(frames) < len(speech) / SAMPLE_RATE + 0.5


def test_a_clip_shorter_than_a_window_is_one_window_or_none(speech: np.ndarray) -> None:
    short = speech[:SAMPLE_RATE]  # one second of speech
    (window,) = speech_windows(speech_frames(_audio(short)))
    assert window.start_s == 0.0 and window.end_s <= 1.0
    assert speech_seconds(speech_frames(_audio(short))) < MIN_SPEECH_S  # too little to judge
    assert speech_windows(speech_frames(_audio(_silence(0.01)))) == []
