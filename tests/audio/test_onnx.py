"""The shipped voice model exported to ONNX gives the same logits as in PyTorch, on the windows
of real and synthetic speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepfake_stream.audio.decode import load_audio
from deepfake_stream.audio.features import levelled, log_bands, window_input
from deepfake_stream.audio.onnx import export_voice_onnx, onnx_logits
from deepfake_stream.audio.speech import speech_frames, speech_windows
from deepfake_stream.audio.voice import VoiceScorer
from deepfake_stream.config import LimitSettings, Settings


def test_onnx_and_torch_agree_on_real_windows(fixtures: Path, tmp_path: Path) -> None:
    scorer = VoiceScorer(Settings().voice.weights)
    spec = scorer.features
    inputs = []
    for name in ("real_dc_tts_LJ001-0010.flac", "fake_piper_joe.flac", "speech_fsdd.mp3"):
        audio = load_audio(fixtures / "audio" / name, LimitSettings())
        assert audio is not None
        speech = speech_frames(audio)
        spectrogram = log_bands(levelled(audio.samples, speech), spec)
        inputs += [window_input(spectrogram, speech, w, spec) for w in speech_windows(speech)]
    batch = np.stack(inputs)
    graph = export_voice_onnx(scorer.model, tmp_path / "voice.onnx")
    exported = onnx_logits(graph, batch)
    assert exported.shape == (len(inputs),)
    np.testing.assert_allclose(exported, scorer.logits(batch), atol=1e-4, rtol=1e-4)
