"""The voice branch: speech windows (speech.py) scored by the voice model, and the utterance's
verdict. The utterance score is the mean of its windows' logits, as in training's evaluation
(training/voice_train.py), divided by the manifest's temperature.

Too little speech gives `no_speech`, never a guess; an untrained model is never loaded (the
branch is off without weights), so a voice verdict always comes from trained weights.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch

from ..config import LimitSettings, VoiceSettings
from ..deadline import Deadline
from .decode import Audio, load_audio
from .features import levelled, log_bands, window_input
from .speech import MIN_SPEECH_S, SpeechWindow, speech_frames, speech_seconds, speech_windows
from .weights import load_voice_model

WINDOW_BATCH = 16  # windows per forward pass


class VoiceVerdict(StrEnum):
    REAL = "real"
    FAKE = "fake"
    UNCERTAIN = "uncertain"
    NO_SPEECH = "no_speech"


@dataclass(frozen=True)
class ScoredWindow:
    start_s: float
    end_s: float
    speech_s: float
    probability: float


@dataclass(frozen=True)
class VoiceAnalysis:
    verdict: VoiceVerdict
    probability: float | None  # the utterance's; None under MIN_SPEECH_S of speech
    speech_s: float
    duration_s: float
    codec: str
    windows: list[ScoredWindow]
    elapsed_ms: float


def sigmoid(value: np.ndarray | float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(value, dtype=np.float64))))


class VoiceScorer:
    """Loads the voice model once; analyze() and score_windows() are safe from several threads
    (one forward pass at a time: the model is small and each pass uses the torch threads)."""

    def __init__(self, manifest_path: Path) -> None:
        self.model, self.manifest = load_voice_model(manifest_path)
        self.features = self.manifest.features
        self._lock = threading.Lock()

    @property
    def real_below(self) -> float:
        return self.manifest.thresholds.real_below

    @property
    def fake_at_or_above(self) -> float:
        return self.manifest.thresholds.fake_at_or_above

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """(N,) raw logits of (N, bands, frames) window inputs."""
        out = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(inputs), WINDOW_BATCH):
                batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + WINDOW_BATCH]))
                out.append(self.model(batch).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def judge(self, probability: float | None) -> VoiceVerdict:
        if probability is None:
            return VoiceVerdict.NO_SPEECH
        if probability >= self.fake_at_or_above:
            return VoiceVerdict.FAKE
        if probability < self.real_below:
            return VoiceVerdict.REAL
        return VoiceVerdict.UNCERTAIN

    def score_windows(
        self, audio: Audio, speech: np.ndarray, windows: list[SpeechWindow]
    ) -> tuple[list[ScoredWindow], np.ndarray]:
        """Each window's probability, and the raw logits they come from."""
        if not windows:
            return [], np.zeros(0, np.float32)
        spectrogram = log_bands(levelled(audio.samples, speech), self.features)
        inputs = np.stack([window_input(spectrogram, speech, w, self.features) for w in windows])
        logits = self.logits(inputs)
        probabilities = sigmoid(logits / self.manifest.temperature)
        scored = [
            ScoredWindow(w.start_s, w.end_s, round(w.speech_s, 2), round(float(p), 4))
            for w, p in zip(windows, probabilities, strict=True)
        ]
        return scored, logits

    def utterance_probability(self, logits: np.ndarray, speech_s: float) -> float | None:
        if speech_s < MIN_SPEECH_S or len(logits) == 0:
            return None
        return float(sigmoid(float(np.mean(logits)) / self.manifest.temperature))

    def analyze(self, audio: Audio) -> VoiceAnalysis:
        began = time.perf_counter()
        speech = speech_frames(audio)
        speech_s = speech_seconds(speech)
        windows, logits = self.score_windows(audio, speech, speech_windows(speech))
        probability = self.utterance_probability(logits, speech_s)
        return VoiceAnalysis(
            verdict=self.judge(probability),
            probability=None if probability is None else round(probability, 4),
            speech_s=round(speech_s, 2),
            duration_s=round(audio.duration_s, 3),
            codec=audio.codec,
            windows=windows,
            elapsed_ms=round((time.perf_counter() - began) * 1000, 1),
        )

    def analyze_file(
        self, path: Path, limits: LimitSettings, deadline: Deadline | None = None
    ) -> VoiceAnalysis | None:
        """The voice in a file's first audio track; None when it has none."""
        audio = load_audio(path, limits, deadline)
        return None if audio is None else self.analyze(audio)


def load_voice_scorer(settings: VoiceSettings) -> VoiceScorer | None:
    """The voice branch, or None when the configuration turns it off."""
    return VoiceScorer(settings.weights) if settings.enabled else None
