"""The voice model's input: log-mel columns of real speech, silence left out, level removed."""

from __future__ import annotations

import numpy as np

from deepfake_stream.audio.decode import SAMPLE_RATE, Audio
from deepfake_stream.audio.features import (
    FeatureSpec,
    levelled,
    log_mel,
    mel_filterbank,
    window_input,
)
from deepfake_stream.audio.speech import SpeechWindow, speech_frames, speech_windows

SPEC = FeatureSpec()


def test_a_tone_lights_the_band_that_holds_it() -> None:
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    spectrogram = log_mel(tone, SPEC)
    assert spectrogram.shape == (SPEC.n_mels, 1 + (SAMPLE_RATE - SPEC.win_length) // 160)
    loudest = int(np.argmax(spectrogram.mean(axis=1)))
    filters = mel_filterbank(SPEC)
    bin_of_1khz = round(1000.0 / (SAMPLE_RATE / SPEC.n_fft))
    assert loudest == int(np.argmax(filters[:, bin_of_1khz]))


def test_the_input_ignores_level_and_silence(speech: np.ndarray) -> None:
    def model_input(samples: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        audio = Audio(samples.astype(np.float32), "test", SAMPLE_RATE)
        frames = speech_frames(audio) if frames is None else frames
        (window, *_) = speech_windows(frames)
        return window_input(log_mel(levelled(audio.samples, frames), SPEC), frames, window, SPEC)

    frames = speech_frames(Audio(speech, "test", SAMPLE_RATE))
    loud = model_input(speech, frames)
    quiet = model_input(speech * 0.25, frames)
    assert loud.shape == (SPEC.n_mels, SPEC.frames)
    # Speech is levelled before the spectrum is taken, and each band's mean is taken out.
    assert np.abs(loud - quiet).max() < 1e-3
    # Digital silence inside the window never reaches the model: no column sits at the floor.
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    half = len(speech) // 2
    with_gap = model_input(np.concatenate([speech[:half], gap, speech[half:]]))
    assert with_gap.min() > np.log(1e-6) + 3


def test_a_window_of_no_speech_still_gives_an_input() -> None:
    noise = np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE * 3).astype(np.float32)
    frames = np.zeros(100, dtype=bool)
    window = window_input(log_mel(noise, SPEC), frames, SpeechWindow(0.0, 3.0, 0.0), SPEC)
    assert window.shape == (SPEC.n_mels, SPEC.frames) and np.isfinite(window).all()
