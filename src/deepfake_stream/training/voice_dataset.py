"""Windows of speech features for the voice model, built from the labelled demo-page clips
(scripts/audio_data: labels.csv) and written to one .npz: each clip is decoded to 16 kHz mono,
passed `variants` times through a random channel (voice_augment.py), and each pass cut into the
service's own speech windows (audio/speech.py) and features (audio/features.py). Training and
the service thus see windows made the same way.

    python -m deepfake_stream.training.voice_dataset --root /work/audio --out voice.npz
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import multiprocessing
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.decode import Audio, load_audio
from ..audio.features import FeatureSpec, levelled, log_bands, window_input
from ..audio.model import get_voice_spec, list_voice_models
from ..audio.speech import speech_frames, speech_windows
from ..config import LimitSettings
from ..errors import MediaError
from .voice_augment import ChannelOptions, random_channel

REAL_VARIANT_FACTOR = 2
# Each pass takes an excerpt this long: enough for MAX_WINDOWS_PER_PASS windows, and a 4-minute
# clip costs no more than a short one.
MAX_PASS_SAMPLES = 10 * 16_000
MAX_WINDOWS_PER_PASS = 3  # a long clip should not outweigh many short ones
# Spoken digits (0.4 s each) are joined, per speaker, into clips of this many.
DIGITS_PER_CLIP = 8
DIGIT_GAP_S = 0.15
DIGITS_SOURCE = "Jakobovski/free-spoken-digit-dataset"
LIMITS = LimitSettings(max_duration_s=600.0)
META_FIELDS = ("clip", "label", "system", "family", "kind", "source", "speaker", "pair", "chain")


@dataclass(frozen=True)
class Clip:
    paths: tuple[Path, ...]  # several for joined digits
    label: str
    system: str
    family: str
    kind: str
    source: str  # the repository (page) it came from
    speaker: str
    pair: str

    @property
    def name(self) -> str:
        return str(self.paths[0])


def read_clips(root: Path) -> list[Clip]:
    """Real and fake speech clips from labels.csv, one per distinct file (md5), with the spoken
    digits joined per speaker."""
    clips, seen = [], set()
    digits: dict[str, list[Path]] = defaultdict(list)
    with (root / "labels.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["label"] not in ("real", "fake") or row["domain"] != "speech":
                continue
            if row["md5"] in seen:
                continue
            seen.add(row["md5"])
            path = root / row["path"]
            source = row["source"].split("@")[0]
            if source == DIGITS_SOURCE:
                digits[row["speaker"]].append(path)
                continue
            clips.append(
                Clip(
                    (path,),
                    row["label"],
                    row["system"] or "bonafide",
                    row["family"] or "bonafide",
                    row["kind"],
                    source,
                    row["speaker"],
                    row["pair"],
                )
            )
    for speaker, paths in sorted(digits.items()):
        paths.sort()
        for start in range(0, len(paths), DIGITS_PER_CLIP):
            clips.append(
                Clip(
                    tuple(paths[start : start + DIGITS_PER_CLIP]),
                    "real",
                    "bonafide",
                    "bonafide",
                    "bonafide",
                    DIGITS_SOURCE,
                    speaker,
                    "",
                )
            )
    return clips


def local_fakes(name: str, folder: Path) -> list[Clip]:
    """Fakes made here (Piper, espeak-ng...): every audio file under `folder`."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    return [Clip((p,), "fake", name, "local", "tts", f"local/{name}", "", "") for p in paths]


def _decode(clip: Clip) -> np.ndarray:
    parts = []
    for path in clip.paths:
        audio = load_audio(path, LIMITS)
        if audio is not None:
            parts += [audio.samples, np.zeros(int(DIGIT_GAP_S * 16_000), np.float32)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def clip_windows(
    clip: Clip, variants: int, spec: FeatureSpec, options: ChannelOptions
) -> list[tuple[np.ndarray, str]]:
    """(features, channel) for up to MAX_WINDOWS_PER_PASS windows of each of `variants` passes."""
    seed = int.from_bytes(hashlib.sha256(clip.name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    try:
        samples = _decode(clip)
    except MediaError:
        return []
    if len(samples) < 16_000:
        return []
    out = []
    for _ in range(variants):
        start = int(rng.integers(0, max(len(samples) - MAX_PASS_SAMPLES, 0) + 1))
        passed, chain = random_channel(samples[start : start + MAX_PASS_SAMPLES], rng, options)
        speech = speech_frames(Audio(passed, "pcm", 16_000))
        windows = speech_windows(speech)
        if not windows:
            continue
        chosen = rng.permutation(len(windows))[:MAX_WINDOWS_PER_PASS]
        spectrogram = log_bands(levelled(passed, speech), spec)
        out += [(window_input(spectrogram, speech, windows[i], spec), chain) for i in chosen]
    return out


def _work(
    job: tuple[Clip, int, FeatureSpec, ChannelOptions],
) -> tuple[Clip, list[tuple[np.ndarray, str]]]:
    clip, variants, spec, options = job
    return clip, clip_windows(clip, variants, spec, options)


def build(
    clips: list[Clip], out: Path, variants: int, architecture: str, workers: int
) -> Iterator[int]:
    """Writes `out` (features float16 (N, bands, frames) under the architecture's FeatureSpec,
    the META_FIELDS per window, and the architecture's name); yields the number of clips done
    as it goes."""
    spec = get_voice_spec(architecture).features
    features: list[np.ndarray] = []
    meta: dict[str, list[str]] = {field: [] for field in META_FIELDS}
    # Real speech is the scarcer class: it goes through the channel more often.
    jobs = [
        (
            clip,
            variants * (REAL_VARIANT_FACTOR if clip.label == "real" else 1),
            spec,
            ChannelOptions(),
        )
        for clip in clips
    ]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for done, (clip, windows) in enumerate(pool.imap_unordered(_work, jobs, chunksize=4)):
            for window, chain in windows:
                features.append(window.astype(np.float16))
                values = (
                    clip.name,
                    clip.label,
                    clip.system,
                    clip.family,
                    clip.kind,
                    clip.source,
                    clip.speaker,
                    clip.pair,
                    chain,
                )
                for field, value in zip(META_FIELDS, values, strict=True):
                    meta[field].append(value)
            yield done + 1
    arrays: dict[str, np.ndarray] = {k: np.array(v) for k, v in meta.items()}
    arrays["features"] = np.stack(features)
    arrays["architecture"] = np.array(architecture)
    np.savez(out, allow_pickle=False, **arrays)


def _named_folder(spec: str) -> tuple[str, Path]:
    name, folder = spec.split("=", 1)
    return name, Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/work/audio"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--architecture", default="loglinear-cnn", choices=list_voice_models())
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N clips only (a dry run)")
    parser.add_argument(
        "--local-fakes", nargs="*", default=[], help="NAME=DIR: fakes made here, instead of labels"
    )
    args = parser.parse_args()
    clips = (
        [c for spec in args.local_fakes for c in local_fakes(*_named_folder(spec))]
        if args.local_fakes
        else read_clips(args.root)
    )
    if args.limit:
        clips = clips[: args.limit]
    for done in build(clips, args.out, args.variants, args.architecture, args.workers):
        if done % 200 == 0 or done == len(clips):
            print(f"{done}/{len(clips)} clips", flush=True)


if __name__ == "__main__":
    main()
