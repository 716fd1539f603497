"""The channel every voice training clip goes through: real codecs, band limits and noise on
real speech, the same for both classes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from deepfake_stream.audio.decode import SAMPLE_RATE
from deepfake_stream.training.voice_augment import (
    CODECS,
    TARGET_RMS_DBFS,
    ChannelOptions,
    band_limit,
    random_channel,
    rms_dbfs,
    through_codec,
)


@pytest.mark.parametrize(("codec", "container", "rate", "bit_rates"), CODECS)
def test_each_codec_gives_back_the_speech(
    speech: np.ndarray, codec: str, container: str, rate: int, bit_rates: tuple[int, ...]
) -> None:
    decoded = through_codec(speech, codec, container, rate, bit_rates[-1])
    # Encoders add a little priming delay and padding, never seconds.
    assert abs(len(decoded) - len(speech)) < 0.1 * SAMPLE_RATE
    assert np.isfinite(decoded).all()
    # The speech survives: the envelopes of input and output agree.
    envelope = [
        np.abs(x[: len(speech) // 400 * 400]).reshape(-1, 400).mean(axis=1)
        for x in (speech, np.pad(decoded, (0, max(0, len(speech) - len(decoded)))))
    ]
    lag = int(np.argmax(signal.correlate(envelope[1], envelope[0], mode="full"))) - (
        len(envelope[0]) - 1
    )
    aligned = np.roll(envelope[1], -lag)
    assert np.corrcoef(envelope[0], aligned)[0, 1] > 0.8


def test_the_telephone_band_takes_the_highs_away(speech: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    while True:  # the band limit draws between the telephone band and a low-pass
        limited = band_limit(speech, rng)
        freqs, before = signal.welch(speech, SAMPLE_RATE)
        _, after = signal.welch(limited, SAMPLE_RATE)
        high = freqs > 7000
        if after[high].sum() < 0.01 * before[high].sum():
            break
    assert after[high].sum() < 0.01 * before[high].sum()


def test_the_channel_is_reproducible_and_levels_the_speech(speech: np.ndarray) -> None:
    options = ChannelOptions(codec_p=1.0, noise_p=1.0)
    first, chain = random_channel(speech * 0.01, np.random.default_rng(7), options)
    again, same_chain = random_channel(speech * 0.01, np.random.default_rng(7), options)
    assert chain == same_chain and np.array_equal(first, again)
    assert "noise" in chain and "@" in chain
    # Brought to the target level whatever it came in at (within the jitter and codec change).
    assert abs(rms_dbfs(first) - TARGET_RMS_DBFS) < 8.0
    chains = {random_channel(speech, np.random.default_rng(seed))[1] for seed in range(12)}
    assert len(chains) > 4  # not one chain for all
