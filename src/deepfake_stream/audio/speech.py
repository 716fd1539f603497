"""Where speech is: WebRTC's voice activity detector on 30 ms frames, and the fixed windows
(WINDOW_S long, every HOP_S) that hold enough of it to be judged. Silence, music and noise are
never scored: a voice verdict rests on speech or is not given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from .decode import SAMPLE_RATE, Audio

FRAME_S = 0.03  # one of the frame lengths the detector takes (10, 20 or 30 ms)
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_S)
# 0 (lenient) to 3 (strict): 2 keeps breaths and hum out without cutting soft speech.
AGGRESSIVENESS = 2
# WebRTC's detector calls steady noise speech; noise has a flat spectrum (flatness near 0.56
# for white noise), voiced speech a peaked one (under 0.1): frames flatter than this are not.
MAX_SPECTRAL_FLATNESS = 0.3
WINDOW_S = 3.0
HOP_S = 1.5
# A window is judged when at least this share of it is speech.
MIN_WINDOW_SPEECH_SHARE = 0.5
# Less speech than this in a whole file or stream: no voice verdict (issue #24: never a guess).
MIN_SPEECH_S = 2.0


@dataclass(frozen=True)
class SpeechWindow:
    start_s: float
    end_s: float
    speech_s: float  # seconds of speech inside


def spectral_flatness(frames: np.ndarray) -> np.ndarray:
    """Per row of `frames`: the geometric over the arithmetic mean of its power spectrum."""
    power = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2 + 1e-12
    return np.asarray(np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1))


def speech_frames(audio: Audio) -> np.ndarray:
    """One bool per FRAME_S frame: whether it holds speech."""
    count = len(audio.samples) // FRAME_SAMPLES
    if count == 0:
        return np.zeros(0, dtype=bool)
    samples = np.clip(audio.samples[: count * FRAME_SAMPLES], -1.0, 1.0).reshape(count, -1)
    pcm = (samples * 32767).astype("<i2")
    detector = webrtcvad.Vad(AGGRESSIVENESS)
    voiced = np.array([detector.is_speech(row.tobytes(), SAMPLE_RATE) for row in pcm], dtype=bool)
    return voiced & (spectral_flatness(samples) < MAX_SPECTRAL_FLATNESS)


def speech_seconds(frames: np.ndarray) -> float:
    return float(frames.sum()) * FRAME_S


def speech_windows(frames: np.ndarray) -> list[SpeechWindow]:
    """The WINDOW_S windows, every HOP_S, with at least MIN_WINDOW_SPEECH_SHARE speech. A clip
    shorter than one window is one window, judged on the same share."""
    per_window = round(WINDOW_S / FRAME_S)
    per_hop = round(HOP_S / FRAME_S)
    starts = range(0, max(1, len(frames) - per_window + per_hop), per_hop)
    windows = []
    for start in starts:
        inside = frames[start : start + per_window]
        if len(inside) and inside.mean() >= MIN_WINDOW_SPEECH_SHARE:
            windows.append(
                SpeechWindow(
                    round(start * FRAME_S, 3),
                    round((start + len(inside)) * FRAME_S, 3),
                    speech_seconds(inside),
                )
            )
    return windows
