"""A live stream's audio gathered into the voice branch's windows, whatever the chunk size."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_stream.streams.voice import HOP_SAMPLES, WINDOW_SAMPLES, VoiceChannel


@pytest.mark.parametrize("chunk", [160, 7_919, 16_000, 48_000 * 2])
def test_windows_come_every_hop_whatever_the_chunk_size(chunk: int) -> None:
    samples = np.arange(16_000 * 10, dtype=np.float32)  # 10 s, each sample its own index
    channel = VoiceChannel()
    due = []
    for start in range(0, len(samples), chunk):
        due += channel.add(start / 16_000, samples[start : start + chunk])
    assert [w.start_s for w in due] == [i * 1.5 for i in range(5)]  # the last, 6 s, ends at 9 s
    for window in due:
        first = int(window.start_s * 16_000)
        assert np.array_equal(window.samples, samples[first : first + WINDOW_SAMPLES])
    assert HOP_SAMPLES == 24_000


def test_a_gap_in_the_audio_starts_the_windows_afresh() -> None:
    channel = VoiceChannel()
    assert channel.add(0.0, np.zeros(32_000, np.float32)) == []
    # 2 s of audio, then a chunk that starts 10 s later: no window spans the gap.
    due = channel.add(12.0, np.ones(48_000, np.float32))
    assert [w.start_s for w in due] == [12.0]
    assert due[0].samples.min() == 1.0
