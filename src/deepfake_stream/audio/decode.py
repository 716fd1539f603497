"""Audio from a file or a video's sound track, decoded with PyAV and resampled to what the
voice models take: mono float32 in [-1, 1] at SAMPLE_RATE."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

import av
import av.error
import numpy as np

from ..config import LimitSettings
from ..deadline import Deadline
from ..errors import CorruptMediaError, DurationTooLongError, EmptyMediaError
from ..media.reasons import decoder_reason

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    codec: str  # the track's codec (pcm_s16le, flac, mp3, aac, opus, vorbis...)
    source_rate: int  # the track's own sample rate

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def load_audio(
    source: Path | IO[bytes], limits: LimitSettings, deadline: Deadline | None = None
) -> Audio | None:
    """The first audio track of `source` (a file, or bytes in memory), or None when it has none
    (a silent video). Raises
    CorruptMediaError when the data cannot be decoded, DurationTooLongError past
    limits.max_duration_s, EmptyMediaError for a track without a single sample."""
    try:
        with av.open(str(source) if isinstance(source, Path) else source, mode="r") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            blocks: list[np.ndarray] = []
            decoded = 0
            max_samples = int(limits.max_duration_s * SAMPLE_RATE)
            for frame in container.decode(stream):
                for resampled in resampler.resample(frame):
                    block = resampled.to_ndarray().reshape(-1)
                    blocks.append(block)
                    decoded += len(block)
                if decoded > max_samples:
                    raise DurationTooLongError(
                        f"the audio is longer than {limits.max_duration_s:g} s"
                    )
                if deadline is not None:
                    deadline.check("decoding audio")
            blocks.extend(r.to_ndarray().reshape(-1) for r in resampler.resample(None))
            codec, source_rate = stream.codec_context.name, stream.codec_context.sample_rate
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"the audio cannot be decoded: {decoder_reason(exc)}") from exc
    samples = np.concatenate(blocks).astype(np.float32, copy=False) if blocks else np.zeros(0)
    if samples.size == 0:
        raise EmptyMediaError("the audio track holds no samples")
    return Audio(np.clip(samples, -1.0, 1.0).astype(np.float32), codec, int(source_rate or 0))
