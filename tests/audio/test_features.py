"""The voice model's input: log-band columns of real speech, silence left out, level removed."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_stream.audio.decode import SAMPLE_RATE, Audio
from deepfake_stream.audio.features import (
    FeatureSpec,
    filterbank,
    levelled,
    log_bands,
    window_input,
)
from deepfake_stream.audio.model import get_voice_spec
from deepfake_stream.audio.speech import SpeechWindow, speech_frames, speech_windows

SPEC = FeatureSpec()
LINEAR = get_voice_spec("loglinear-cnn").features


@pytest.mark.parametrize("spec", [SPEC, LINEAR], ids=["mel", "linear"])
@pytest.mark.parametrize("hertz", [1000.0, 6000.0])
def test_a_tone_lights_the_band_that_holds_it(spec: FeatureSpec, hertz: float) -> None:
    tone = np.sin(2 * np.pi * hertz * np.arange(SAMPLE_RATE) / SAMPLE_RATE).astype(np.float32)
    spectrogram = log_bands(tone, spec)
    assert spectrogram.shape == (spec.bands, 1 + (SAMPLE_RATE - spec.win_length) // 160)
    loudest = int(np.argmax(spectrogram.mean(axis=1)))
    filters = filterbank(spec)
    bin_of_tone = round(hertz / (SAMPLE_RATE / spec.n_fft))
    assert loudest == int(np.argmax(filters[:, bin_of_tone]))


def test_linear_bands_share_the_spectrum_evenly_and_mel_bands_do_not() -> None:
    def bands_above(spec: FeatureSpec, hertz: float) -> int:
        centres = np.argmax(filterbank(spec), axis=1) * SAMPLE_RATE / spec.n_fft
        return int((centres >= hertz).sum())

    # The upper half of the spectrum (4-8 kHz): half of the linear bands, a quarter of the mel.
    assert abs(bands_above(LINEAR, 4000.0) - LINEAR.bands / 2) <= 1
    assert bands_above(SPEC, 4000.0) <= SPEC.bands / 4


def test_a_manifest_that_names_the_bands_n_mels_still_reads() -> None:
    spec = FeatureSpec.model_validate({"n_mels": 48, "f_max": 7600.0})
    assert spec.bands == 48 and spec.scale == "mel"


def test_the_input_ignores_level_and_silence(speech: np.ndarray) -> None:
    def model_input(samples: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        audio = Audio(samples.astype(np.float32), "test", SAMPLE_RATE)
        frames = speech_frames(audio) if frames is None else frames
        (window, *_) = speech_windows(frames)
        return window_input(log_bands(levelled(audio.samples, frames), SPEC), frames, window, SPEC)

    frames = speech_frames(Audio(speech, "test", SAMPLE_RATE))
    loud = model_input(speech, frames)
    quiet = model_input(speech * 0.25, frames)
    assert loud.shape == (SPEC.bands, SPEC.frames)
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
    window = window_input(log_bands(noise, SPEC), frames, SpeechWindow(0.0, 3.0, 0.0), SPEC)
    assert window.shape == (SPEC.bands, SPEC.frames) and np.isfinite(window).all()
