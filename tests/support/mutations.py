"""Mutated copies of the committed fixtures, for the fuzzing harness (tests/test_fuzz.py, and
scripts/fuzz_media.py for long runs): the damage that broken and hostile uploads carry. Each
mutation is a few integers, so that Hypothesis can draw and shrink them and a seeded
random.Random can draw ten thousand of the same kind."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Every supported container and codec: H.264 in MP4, MOV and MKV (a rotated one, a variable
# frame rate one, a truncated one), VP9 in WebM, MPEG-4 Part 2 in AVI; JPEG (with EXIF
# rotation), PNG, WebP, BMP; and the audio formats of the voice branch.
SEEDS = (
    "real_hdtf_2s.mp4",
    "rotated90_2s.mp4",
    "truncated.mp4",
    "vfr_2s.mkv",
    "tiny.mov",
    "tiny.mkv",
    "tiny.webm",
    "tiny.avi",
    "photo.jpg",
    "photo_exif_rot6.jpg",
    "photo.png",
    "photo.webp",
    "photo.bmp",
    # Audio: PCM in WAV, FLAC, MP3, Opus in Ogg, AAC in M4A, and an MP4's AAC sound track.
    "audio/speech_fsdd.wav",
    "audio/real_dc_tts_LJ001-0010.flac",
    "audio/speech_fsdd.mp3",
    "audio/speech_fsdd.opus",
    "audio/speech_fsdd.m4a",
    "audio/fake_dfdc_2s_speech.mp4",
)
# Containers keep their structure (headers, sample tables, codec parameters) near the start,
# and damage there finds the most: half of all positions fall in this many first bytes.
NEAR_START_BYTES = 2048
MAX_POSITION = 2**32
MAX_BLOCK = 4096
# Values that break sizes, counts and offsets (AFL's "interesting" 32-bit values).
INTERESTING_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


class Operator(StrEnum):
    FLIP_BITS = "flip_bits"  # each position names a bit
    TRUNCATE = "truncate"  # keep the bytes before the first position
    ZERO_BLOCK = "zero_block"  # `length` zero bytes from the first position
    DUPLICATE_BLOCK = "duplicate_block"  # `length` bytes from the first, again at the second
    SPLICE = "splice"  # up to the first position, then the donor from the second
    OVERWRITE_WORDS = "overwrite_words"  # `word` (32-bit, big-endian) at each position


@dataclass(frozen=True)
class Mutation:
    seed: str  # the fixture mutated
    operator: Operator
    positions: tuple[int, ...]  # bit positions, modulo the file's; byte positions are // 8
    length: int  # of a zeroed or duplicated block
    donor: str  # the fixture spliced in
    word: int  # the 32-bit value written

    def apply(self) -> bytes:
        data = bytearray((FIXTURES / self.seed).read_bytes())
        first, second = (self.positions[0] // 8) % len(data), (self.positions[-1] // 8) % len(data)
        if self.operator is Operator.FLIP_BITS:
            for position in self.positions:
                bit = position % (len(data) * 8)
                data[bit // 8] ^= 1 << (bit % 8)
            return bytes(data)
        if self.operator is Operator.TRUNCATE:
            return bytes(data[:first])
        if self.operator is Operator.ZERO_BLOCK:
            end = min(len(data), first + self.length)
            data[first:end] = bytes(end - first)
            return bytes(data)
        if self.operator is Operator.OVERWRITE_WORDS:
            for position in self.positions:
                start = (position // 8) % len(data)
                data[start : start + 4] = self.word.to_bytes(4, "big")[: len(data) - start]
            return bytes(data)
        if self.operator is Operator.DUPLICATE_BLOCK:
            block = data[first : first + self.length]
            return bytes(data[:second] + block + data[second:])
        donor = (FIXTURES / self.donor).read_bytes()
        return bytes(data[:first]) + donor[(self.positions[-1] // 8) % len(donor) :]

    @property
    def name(self) -> str:
        """A file name that says what was done (for corpus files and failure reports)."""
        positions = "-".join(str(p) for p in self.positions)
        donor = f"+{self.donor}" if self.operator is Operator.SPLICE else ""
        return f"{self.seed}{donor}.{self.operator.value}.{positions}.{self.length}.{self.word}"


def _near_start_or_anywhere(rng: random.Random) -> int:
    return (
        rng.randrange(NEAR_START_BYTES * 8) if rng.random() < 0.5 else rng.randrange(MAX_POSITION)
    )


def random_mutation(rng: random.Random) -> Mutation:
    """One mutation drawn by a seeded generator (the long runs)."""
    return Mutation(
        seed=rng.choice(SEEDS),
        operator=rng.choice(list(Operator)),
        positions=tuple(_near_start_or_anywhere(rng) for _ in range(rng.randint(2, 8))),
        length=rng.randint(1, MAX_BLOCK),
        donor=rng.choice(SEEDS),
        word=rng.choice(INTERESTING_WORDS) if rng.random() < 0.5 else rng.getrandbits(32),
    )


def mutations() -> st.SearchStrategy[Mutation]:
    """The same mutations, drawn (and shrunk) by Hypothesis."""
    position = st.one_of(st.integers(0, NEAR_START_BYTES * 8 - 1), st.integers(0, MAX_POSITION - 1))
    return st.builds(
        Mutation,
        seed=st.sampled_from(SEEDS),
        operator=st.sampled_from(Operator),
        positions=st.lists(position, min_size=2, max_size=8).map(tuple),
        length=st.integers(1, MAX_BLOCK),
        donor=st.sampled_from(SEEDS),
        word=st.one_of(st.sampled_from(INTERESTING_WORDS), st.integers(0, 2**32 - 1)),
    )
