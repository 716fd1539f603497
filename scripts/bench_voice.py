"""Benchmark the voice branch as the service runs it (issue #24's targets): a 60 s clip through
Analyzer.analyze end to end (sniff, decode, speech detection, features, model), one 3 s live
window as a stream scores it, and the process's peak RSS with both branches loaded after a
video with sound and the audio clip. Uses only committed fixtures.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_voice.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import psutil

from deepfake_stream.audio.decode import load_audio
from deepfake_stream.config import load_settings
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.streams.voice import WINDOW_SAMPLES, DueWindow, score_window

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SPEECH = FIXTURES / "audio" / "real_dc_tts_LJ001-0010.flac"
VIDEO_WITH_SOUND = FIXTURES / "audio" / "fake_dfdc_2s_speech.mp4"
CLIP_S = 60


def sixty_seconds_of_speech(folder: Path) -> Path:
    """The fixture's 5 s of speech repeated to CLIP_S seconds, as 16-bit WAV."""
    audio = load_audio(SPEECH, load_settings().limits)
    assert audio is not None
    repeats = -(-CLIP_S * 16_000 // len(audio.samples))
    samples = np.tile(audio.samples, repeats)[: CLIP_S * 16_000]
    path = folder / "speech_60s.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    analyzer = Analyzer(load_settings())
    assert analyzer.voice is not None, "the voice branch is off in this configuration"
    with tempfile.TemporaryDirectory() as folder:
        clip = sixty_seconds_of_speech(Path(folder))
        analyzer.analyze(clip)  # warm
        clip_s = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            result = analyzer.analyze(clip)
            clip_s.append(time.perf_counter() - began)
    audio = load_audio(SPEECH, analyzer.settings.limits)
    assert audio is not None
    window = DueWindow(0.0, audio.samples[:WINDOW_SAMPLES])
    score_window(analyzer.voice, window)  # warm
    window_ms = []
    for _ in range(args.repeat * 4):
        began = time.perf_counter()
        score_window(analyzer.voice, window)
        window_ms.append((time.perf_counter() - began) * 1000)
    video = analyzer.analyze(VIDEO_WITH_SOUND)
    assert result.audio is not None and video.audio is not None
    print(
        json.dumps(
            {
                "clip_60s_median_s": round(statistics.median(clip_s), 3),
                "clip_60s_runs_s": [round(s, 3) for s in clip_s],
                "clip_60s_windows": len(result.audio.windows),
                "clip_60s_verdict": result.verdict.value,
                "live_window_3s_median_ms": round(statistics.median(window_ms), 1),
                "live_window_3s_max_ms": round(max(window_ms), 1),
                "video_with_sound_total_ms": video.timings.total_ms,
                "video_voice_ms": video.audio.analyse_ms,
                "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 0),
                # ru_maxrss: the process's high-water mark, in KiB on Linux.
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
