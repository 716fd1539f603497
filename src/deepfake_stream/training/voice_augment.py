"""The channel every training clip goes through, real and fake alike (issue #24, "no confound to
learn"): each demo page has its own sample rate, loudness, trimming and codec (every Tortoise
clip is a 32 kb/s MP3, every MobileSpeech ground truth a FLAC). Passing both classes through
the same random chain of level, band limit, codec and noise leaves the page's channel
uninformative, so what separates them has to be in the voice.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from scipy import signal

from ..audio.decode import SAMPLE_RATE, load_audio
from ..config import LimitSettings

TARGET_RMS_DBFS = -26.0  # speech level every clip is brought to before the chain
GAIN_JITTER_DB = 6.0
# (codec, container, encoder sample rate, bit rates to draw from)
CODECS = (
    ("libmp3lame", "mp3", SAMPLE_RATE, (24_000, 32_000, 48_000, 64_000, 96_000, 128_000)),
    ("libopus", "ogg", 48_000, (12_000, 16_000, 24_000, 32_000, 48_000, 64_000)),
    ("aac", "adts", SAMPLE_RATE, (24_000, 32_000, 48_000, 64_000, 96_000)),
    ("libopencore_amrnb", "amr", 8_000, (7_950, 10_200, 12_200)),
    ("pcm_mulaw", "wav", 8_000, (64_000,)),
)
TELEPHONE_BAND_HZ = (300.0, 3400.0)


@dataclass(frozen=True)
class ChannelOptions:
    """How often each step of the chain is taken."""

    codec_p: float = 0.7
    second_codec_p: float = 0.2  # a re-encode, as when a clip is shared twice
    band_limit_p: float = 0.25  # telephone band or a random low-pass
    noise_p: float = 0.4
    snr_db: tuple[float, float] = (20.0, 50.0)


def rms_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9))


def normalise_level(samples: np.ndarray, target_dbfs: float = TARGET_RMS_DBFS) -> np.ndarray:
    gain = 10 ** ((target_dbfs - rms_dbfs(samples)) / 20)
    return np.asarray(np.clip(samples * gain, -1.0, 1.0), dtype=np.float32)


def through_codec(
    samples: np.ndarray, codec: str, container: str, rate: int, bit_rate: int
) -> np.ndarray:
    """`samples` (16 kHz mono float32) encoded with `codec` and decoded back to 16 kHz."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    buffer.seek(0)
    decoded = load_audio(buffer, LimitSettings())
    assert decoded is not None  # the container was just written with one audio stream
    return decoded.samples


def band_limit(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        low, high = TELEPHONE_BAND_HZ
        sos = signal.butter(6, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    else:
        sos = signal.butter(
            8, rng.uniform(3500.0, 7000.0), btype="lowpass", fs=SAMPLE_RATE, output="sos"
        )
    return np.asarray(signal.sosfilt(sos, samples), dtype=np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(len(samples)).astype(np.float32)
    if rng.random() < 0.5:  # pink rather than white: the hum and hiss of a room
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, n=len(noise)).astype(np.float32)
    scale = 10 ** ((rms_dbfs(samples) - snr_db - rms_dbfs(noise)) / 20)
    return np.asarray(np.clip(samples + noise * scale, -1.0, 1.0), dtype=np.float32)


def random_channel(
    samples: np.ndarray, rng: np.random.Generator, options: ChannelOptions = ChannelOptions()
) -> tuple[np.ndarray, str]:
    """`samples` at a normalised, jittered level through a random chain; and the chain, named."""
    steps = []
    out = normalise_level(samples, TARGET_RMS_DBFS + rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB))
    if rng.random() < options.band_limit_p:
        out, steps = band_limit(out, rng), ["band"]
    if rng.random() < options.noise_p:
        out = add_noise(out, rng.uniform(*options.snr_db), rng)
        steps.append("noise")
    encodes = (rng.random() < options.codec_p) + (rng.random() < options.second_codec_p)
    for _ in range(encodes):
        codec, container, rate, bit_rates = CODECS[rng.integers(len(CODECS))]
        bit_rate = int(bit_rates[rng.integers(len(bit_rates))])
        out = through_codec(out, codec, container, rate, bit_rate)
        steps.append(f"{codec}@{bit_rate // 1000}k")
    return out, "+".join(steps) or "clean"
