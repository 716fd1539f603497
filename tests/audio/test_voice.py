"""The shipped voice model as the service runs it: real speech of a microphone it never heard,
too little speech, and weights that do not match their manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.audio.decode import SAMPLE_RATE, Audio, load_audio
from deepfake_stream.audio.voice import VoiceScorer, VoiceVerdict
from deepfake_stream.config import LimitSettings, Settings
from deepfake_stream.errors import WeightsError


@pytest.fixture(scope="module")
def scorer() -> VoiceScorer:
    return VoiceScorer(Settings().voice.weights)


def _load(fixtures: Path, name: str) -> Audio:
    audio = load_audio(fixtures / "audio" / name, LimitSettings())
    assert audio is not None
    return audio


def test_a_real_voice_from_an_unseen_microphone_is_not_fake(
    scorer: VoiceScorer, fixtures: Path
) -> None:
    voice = scorer.analyze(_load(fixtures, "real_dc_tts_LJ001-0010.flac"))
    assert voice.verdict is not VoiceVerdict.FAKE
    assert voice.probability is not None and voice.probability < scorer.fake_at_or_above
    assert voice.speech_s >= 2.0 and len(voice.windows) >= 2
    # The same audio gives the same answer (no randomness at inference).
    assert scorer.analyze(_load(fixtures, "real_dc_tts_LJ001-0010.flac")).probability == (
        voice.probability
    )


def test_a_neural_clone_scores_above_the_real_voice(scorer: VoiceScorer, fixtures: Path) -> None:
    real = scorer.analyze(_load(fixtures, "real_dc_tts_LJ001-0010.flac"))
    piper = scorer.analyze(_load(fixtures, "fake_piper_joe.flac"))
    assert piper.probability is not None and real.probability is not None
    assert piper.probability > real.probability


def test_under_two_seconds_of_speech_is_no_speech(scorer: VoiceScorer, fixtures: Path) -> None:
    audio = _load(fixtures, "real_dc_tts_LJ001-0010.flac")
    short = Audio(audio.samples[: int(1.5 * SAMPLE_RATE)], audio.codec, audio.source_rate)
    voice = scorer.analyze(short)
    assert voice.verdict is VoiceVerdict.NO_SPEECH and voice.probability is None
    silence = scorer.analyze(Audio(np.zeros(5 * SAMPLE_RATE, np.float32), "pcm", SAMPLE_RATE))
    assert silence.verdict is VoiceVerdict.NO_SPEECH and silence.windows == []


def test_weights_that_do_not_match_their_manifest_are_refused(tmp_path: Path) -> None:
    manifest = Settings().voice.weights
    copy = tmp_path / manifest.name
    shutil.copy(manifest, copy)
    weights = manifest.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / weights.name).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        VoiceScorer(copy)
