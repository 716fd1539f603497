"""What the voice model sees: a log spectrogram in bands (mel or linear in frequency) of the
speech inside a window, silence left out. The FeatureSpec is the voice model's preprocessing
contract (as CropSpec is the face model's): declared by the architecture, carried by the weights
manifest, used alike by training and by the service.

Silence is dropped before the model sees a window because each demo page trims and pads its
clips its own way (digital zero, room tone, none): a model shown the pauses learns the page. The
mean of each band over the window is subtracted, so the level and the microphone's or
codec's fixed colouring are not cues either.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from .decode import SAMPLE_RATE
from .speech import FRAME_SAMPLES, SpeechWindow

LOG_FLOOR = 1e-6  # added to the band power before the log: digital silence stays finite
# Speech is brought to this level before its spectrum is taken: near the floor, quiet bands of a
# quiet recording would otherwise read differently from the same bands recorded loud.
SPEECH_RMS_DBFS = -26.0
MAX_GAIN_DB = 40.0


class FeatureSpec(BaseModel):
    """How a window of 16 kHz audio becomes the model's (bands, frames) input.

    `scale` spaces the bands: "mel" as hearing does, dense in the low frequencies; "linear"
    evenly, so the upper half of the spectrum, where vocoders leave their traces, has as many
    bands as the lower."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: int = SAMPLE_RATE
    n_fft: int = Field(default=512, ge=64)
    win_length: int = Field(default=400, ge=16)  # 25 ms
    hop_length: int = Field(default=160, ge=1)  # 10 ms
    scale: Literal["mel", "linear"] = "mel"
    # Manifests written before `scale` existed call the bands n_mels.
    bands: int = Field(default=64, ge=8, validation_alias=AliasChoices("bands", "n_mels"))
    f_min: float = Field(default=20.0, ge=0.0)
    f_max: float = Field(default=8000.0, gt=0.0)
    frames: int = Field(default=300, ge=8)  # one window: 3 s of speech frames


def levelled(samples: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """`samples` scaled so that its speech frames (one bool per speech.FRAME_S) have an RMS of
    SPEECH_RMS_DBFS; the whole clip's when no frame is speech. Clipped to [-1, 1]."""
    frames = len(speech) * FRAME_SAMPLES
    voiced = samples[:frames].reshape(-1, FRAME_SAMPLES)[speech] if speech.any() else samples
    rms = float(np.sqrt(np.mean(np.square(voiced, dtype=np.float64)))) if voiced.size else 0.0
    if rms <= 0.0:
        return samples
    gain_db = min(SPEECH_RMS_DBFS - 20 * np.log10(rms), MAX_GAIN_DB)
    return np.asarray(np.clip(samples * 10 ** (gain_db / 20), -1.0, 1.0), dtype=np.float32)


def _band_edges(spec: FeatureSpec) -> np.ndarray:
    """bands + 2 frequencies (Hz): each band rises from one edge to the next and falls to the
    one after."""
    if spec.scale == "linear":
        return np.linspace(spec.f_min, spec.f_max, spec.bands + 2)

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return np.asarray(2595.0 * np.log10(1.0 + hz / 700.0))

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return np.asarray(700.0 * (10.0 ** (mel / 2595.0) - 1.0))

    return to_hz(
        np.linspace(to_mel(np.array(spec.f_min)), to_mel(np.array(spec.f_max)), spec.bands + 2)
    )


@lru_cache(maxsize=4)
def filterbank(spec: FeatureSpec) -> np.ndarray:
    """Slaney-style triangular filters, on the HTK mel scale or evenly spaced:
    (bands, n_fft // 2 + 1)."""
    edges = _band_edges(spec)
    bins = np.linspace(0.0, spec.sample_rate / 2, spec.n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= 2.0 / (upper - lower)  # equal area: bands of any width weigh alike
    return np.asarray(filters, dtype=np.float32)


def log_bands(samples: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(bands, T) log power of `samples` in the spec's bands, one column every hop_length
    samples, the first centred on sample win_length // 2."""
    if len(samples) < spec.win_length:
        samples = np.pad(samples, (0, spec.win_length - len(samples)))
    count = 1 + (len(samples) - spec.win_length) // spec.hop_length
    frames = np.lib.stride_tricks.sliding_window_view(samples, spec.win_length)[:: spec.hop_length][
        :count
    ]
    window = np.hanning(spec.win_length + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, n=spec.n_fft, axis=1)) ** 2
    banded = filterbank(spec) @ power.T.astype(np.float32)
    return np.log(banded + LOG_FLOOR).astype(np.float32)


def speech_columns(speech: np.ndarray, first: int, last: int, spec: FeatureSpec) -> np.ndarray:
    """For each spectrogram column from `first` to `last` (excluded), whether the VAD frame
    under its centre is speech (`speech`: one bool per speech.FRAME_S frame)."""
    if len(speech) == 0:
        return np.zeros(max(last - first, 0), dtype=bool)
    centres = np.arange(first, last) * spec.hop_length + spec.win_length // 2
    return np.asarray(speech[np.minimum(centres // FRAME_SAMPLES, len(speech) - 1)])


def window_input(
    spectrogram: np.ndarray, speech: np.ndarray, window: SpeechWindow, spec: FeatureSpec
) -> np.ndarray:
    """The model's (bands, frames) input for one window: its speech columns in order, each band
    less its mean, repeated end to end when there are fewer than `frames`."""
    first = int(round(window.start_s * spec.sample_rate / spec.hop_length))
    last = int(round(window.end_s * spec.sample_rate / spec.hop_length))
    part = spectrogram[:, first:last]
    kept = part[:, speech_columns(speech, first, first + part.shape[1], spec)]
    if kept.shape[1] == 0:
        kept = part
    kept = kept - kept.mean(axis=1, keepdims=True)
    repeats = -(-spec.frames // max(kept.shape[1], 1))
    return np.tile(kept, (1, repeats))[:, : spec.frames].astype(np.float32)
