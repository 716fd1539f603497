"""The voice of a live stream: audio chunks gathered into the voice branch's 3 s windows every
1.5 s (audio/speech.py's WINDOW_S and HOP_S), each window with enough speech scored by the
service's voice model, and the stream's voice judged as one more person (VOICE_TRACK_ID) with
the same states and alert rules as faces, by the voice model's own thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.decode import SAMPLE_RATE, Audio
from ..audio.speech import HOP_S, WINDOW_S, speech_frames, speech_seconds, speech_windows
from ..audio.voice import ScoredWindow, VoiceScorer
from ..verdict import VerdictPolicy
from .events import VOICE_TRACK_ID
from .state import AlertOptions, PersonMonitor, StateOptions

WINDOW_SAMPLES = int(WINDOW_S * SAMPLE_RATE)
HOP_SAMPLES = int(HOP_S * SAMPLE_RATE)
# A chunk this far after the end of the previous one starts the audio afresh (a gap).
MAX_GAP_S = 0.5


@dataclass(frozen=True)
class DueWindow:
    start_s: float
    samples: np.ndarray


class VoiceChannel:
    """Gathers a stream's audio; due() gives each complete window once."""

    def __init__(self) -> None:
        self._buffer = np.zeros(0, np.float32)
        self._start_s = 0.0  # stream time of the buffer's first sample
        self._next_window = 0  # sample offset in the buffer of the next window's start

    def add(self, time_s: float, samples: np.ndarray) -> list[DueWindow]:
        end_s = self._start_s + len(self._buffer) / SAMPLE_RATE
        if not len(self._buffer) or abs(time_s - end_s) > MAX_GAP_S:
            self._buffer, self._start_s, self._next_window = samples, time_s, 0
        else:
            self._buffer = np.concatenate([self._buffer, samples])
        due = []
        while self._next_window + WINDOW_SAMPLES <= len(self._buffer):
            start = self._next_window
            due.append(
                DueWindow(
                    self._start_s + start / SAMPLE_RATE,
                    self._buffer[start : start + WINDOW_SAMPLES],
                )
            )
            self._next_window += HOP_SAMPLES
        # Keep only what a later window can still use.
        drop = self._next_window
        self._buffer = self._buffer[drop:]
        self._start_s += drop / SAMPLE_RATE
        self._next_window = 0
        return due


def voice_monitor(scorer: VoiceScorer, states: StateOptions, alerts: AlertOptions) -> PersonMonitor:
    """The stream's voice as a person, judged by the voice model's thresholds."""
    real_below, fake_at = scorer.real_below, scorer.fake_at_or_above
    policy = VerdictPolicy(
        real_below=real_below,
        photo_real_below=real_below,
        fake_at_or_above=fake_at,
        photo_fake_at_or_above=fake_at,
        validation_real_below=None,
        untrained=False,
        disagreement=None,
    )
    return PersonMonitor(VOICE_TRACK_ID, policy, states, alerts, name="voice")


def score_window(scorer: VoiceScorer, window: DueWindow) -> ScoredWindow | None:
    """The window's spoof probability, when at least half of it is speech; else None."""
    audio = Audio(window.samples, "pcm_s16le", SAMPLE_RATE)
    speech = speech_frames(audio)
    windows = speech_windows(speech)
    if not windows:
        return None
    scored, _ = scorer.score_windows(audio, speech, windows[:1])
    (only,) = scored
    return ScoredWindow(
        window.start_s + only.start_s,
        window.start_s + only.end_s,
        round(speech_seconds(speech), 2),
        only.probability,
    )
