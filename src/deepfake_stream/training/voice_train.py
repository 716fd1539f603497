"""Training and honest evaluation of the voice model on the windows of voice_dataset.py.

Leave-generators-out: the generators are dealt into folds; each fold's model is trained
without that fold's generators and without the real recordings of the same demo rows, then
scores them. Every generator in the table is thus scored by a model that never heard it, against
the ground truth of its own page. The real speech of HELD_OUT_REAL_SOURCES never enters any
training, and gives the false-alarm rate. The release model is then trained on every fold,
with the thresholds chosen on the folds' out-of-fold scores.

    python -m deepfake_stream.training.voice_train --data voice.npz --out weights/ --steps 1200
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.npyio import NpzFile
from torch import nn

from ..audio.model import VoiceModel, create_voice_model
from .metrics import equal_error_rate, roc_auc

# Each generator is held out by exactly one fold; the rest of the fakes always train.
GENERATOR_FOLDS: tuple[tuple[str, ...], ...] = (
    ("vall-e", "vall-e-x", "tortoise"),
    ("yourtts", "styletts2", "cosyvoice", "ardit"),
    ("megatts", "megatts2", "naturalspeech2", "e1-tts"),
    ("mobilespeech", "hierspeechpp", "naturalspeech3", "voicebox"),
)
# Real speech never trained on: one amateur microphone, and one digit speaker.
HELD_OUT_REAL_SOURCES = ("PhilippMatthes/dc_tts",)
HELD_OUT_REAL_SPEAKERS = ("yweweler",)
# A fold's generator scored against fewer page reals than this borrows its page's other reals.
MIN_PAGE_REALS = 15
BATCH = 32
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
FREQ_MASK = 8  # SpecAugment: up to this many mel bands and TIME_MASK frames masked
TIME_MASK = 40


def _architecture_of(data: NpzFile) -> str:
    return str(data["architecture"]) if "architecture" in data else "logmel-cnn"


def dataset_architecture(path: Path) -> str:
    """The voice model whose FeatureSpec made a voice_dataset file (files from before the name
    was recorded: the first model, logmel-cnn)."""
    with np.load(path) as data:
        return _architecture_of(data)


@dataclass(frozen=True)
class VoiceData:
    architecture: str  # whose FeatureSpec made the features
    features: np.ndarray  # float16 (N, bands, frames)
    fake: np.ndarray  # bool (N,)
    clip: np.ndarray
    system: np.ndarray
    source: np.ndarray
    speaker: np.ndarray
    pair: np.ndarray

    @classmethod
    def load(cls, *paths: Path) -> VoiceData:
        """One or more voice_dataset files of one architecture, as one."""
        files = [np.load(path) for path in paths]
        architectures = {_architecture_of(f) for f in files}
        if len(architectures) != 1:
            raise ValueError(f"the files were made for different models: {sorted(architectures)}")

        def joined(key: str) -> np.ndarray:
            return np.concatenate([f[key] for f in files])

        return cls(
            architectures.pop(),
            joined("features"),
            joined("label") == "fake",
            joined("clip"),
            joined("system"),
            joined("source"),
            joined("speaker"),
            joined("pair"),
        )

    def held_out_reals(self) -> np.ndarray:
        return ~self.fake & (
            np.isin(self.source, HELD_OUT_REAL_SOURCES)
            | np.isin(self.speaker, HELD_OUT_REAL_SPEAKERS)
        )


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SpecAugment (a band and a stretch of time masked) and a random circular shift in time."""
    batch = batch.clone()
    size, bands, frames = batch.shape
    for index in range(size):
        f = int(torch.randint(0, FREQ_MASK + 1, (1,), generator=generator))
        f0 = int(torch.randint(0, bands - f + 1, (1,), generator=generator))
        t = int(torch.randint(0, TIME_MASK + 1, (1,), generator=generator))
        t0 = int(torch.randint(0, frames - t + 1, (1,), generator=generator))
        batch[index, f0 : f0 + f, :] = 0.0
        batch[index, :, t0 : t0 + t] = 0.0
        shift = int(torch.randint(0, frames, (1,), generator=generator))
        batch[index] = torch.roll(batch[index], shift, dims=1)
    return batch


def train_model(
    data: VoiceData, rows: np.ndarray, steps: int, seed: int, log_every: int = 50
) -> VoiceModel:
    """A fresh model trained for `steps` batches drawn from data rows `rows`, the two classes
    drawn equally often."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = create_voice_model(data.architecture).train()
    fakes = data.fake[rows]
    weights = np.where(fakes, 0.5 / max(fakes.sum(), 1), 0.5 / max((~fakes).sum(), 1))
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    sampler = torch.utils.data.WeightedRandomSampler(
        weights.tolist(), steps * BATCH, generator=generator
    )
    order = rows[np.fromiter(sampler, dtype=np.int64)]
    started = time.perf_counter()
    for step in range(steps):
        picked = order[step * BATCH : (step + 1) * BATCH]
        inputs = _augment(torch.from_numpy(data.features[picked].astype(np.float32)), generator)
        targets = torch.from_numpy(data.fake[picked].astype(np.float32))
        loss = loss_fn(model(inputs), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % log_every == 0:
            print(
                f"step {step}/{steps} loss {loss.item():.3f} {time.perf_counter() - started:.0f}s",
                flush=True,
            )
    return model.eval()


@torch.inference_mode()
def window_logits(model: VoiceModel, data: VoiceData, rows: np.ndarray) -> np.ndarray:
    out = [
        model(torch.from_numpy(data.features[rows[i : i + 256]].astype(np.float32))).numpy()
        for i in range(0, len(rows), 256)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def clip_scores(data: VoiceData, rows: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Each clip's mean window logit: the utterance score, as the service computes it."""
    sums: dict[str, list[float]] = {}
    for row, logit in zip(rows, logits, strict=True):
        sums.setdefault(str(data.clip[row]), []).append(float(logit))
    return {clip: float(np.mean(values)) for clip, values in sums.items()}


def fold_split(data: VoiceData, generators: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, test rows) for a fold: the test rows are the generators' fakes and the
    real recordings of the same demo rows (pairs); where a generator's page pairs fewer than
    MIN_PAGE_REALS real clips with it (the Tortoise examples pair none), every real recording of
    that page, as generator_row scores it."""
    held = data.fake & np.isin(data.system, generators)
    pairs = {p for p in data.pair[held] if p}
    unpaired_pages = set()
    for generator in generators:
        for source in set(data.source[held & (data.system == generator)]):
            mine = held & (data.system == generator) & (data.source == source)
            paired = ~data.fake & np.isin(data.pair, [p for p in data.pair[mine] if p])
            if len(set(data.clip[paired])) < MIN_PAGE_REALS:
                unpaired_pages.add(source)
    page_reals = ~data.fake & (
        np.isin(data.pair, list(pairs)) | np.isin(data.source, list(unpaired_pages))
    )
    test = held | page_reals
    train = ~test & ~data.held_out_reals()
    return np.flatnonzero(train), np.flatnonzero(test)


def generator_row(
    data: VoiceData, scores: dict[str, float], generator: str, test_rows: np.ndarray
) -> dict[str, float | int | str]:
    fakes_rows = test_rows[data.fake[test_rows] & (data.system[test_rows] == generator)]
    pairs = {p for p in data.pair[fakes_rows] if p}
    real_rows = test_rows[~data.fake[test_rows] & np.isin(data.pair[test_rows], list(pairs))]
    if len({data.clip[r] for r in real_rows}) < MIN_PAGE_REALS:
        pages = set(data.source[fakes_rows])
        real_rows = test_rows[~data.fake[test_rows] & np.isin(data.source[test_rows], list(pages))]
    fake_clips = sorted({str(data.clip[r]) for r in fakes_rows})
    real_clips = sorted({str(data.clip[r]) for r in real_rows})
    labels = [1] * len(fake_clips) + [0] * len(real_clips)
    values = [scores[c] for c in fake_clips] + [scores[c] for c in real_clips]
    if not fake_clips or not real_clips:
        return {"generator": generator, "fakes": len(fake_clips), "reals": len(real_clips)}
    eer, _ = equal_error_rate(labels, values)
    return {
        "generator": generator,
        "page": ",".join(sorted(set(data.source[fakes_rows]))),
        "fakes": len(fake_clips),
        "reals": len(real_clips),
        "auc": round(roc_auc(labels, values), 4),
        "eer": round(eer, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for folds and the model")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--folds", type=int, nargs="*", default=list(range(len(GENERATOR_FOLDS))))
    parser.add_argument("--release", action="store_true", help="also train on every fold")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = VoiceData.load(*args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    for fold in args.folds:
        train_rows, test_rows = fold_split(data, GENERATOR_FOLDS[fold])
        print(f"fold {fold}: {len(train_rows)} training windows, {len(test_rows)} test", flush=True)
        model = train_model(data, train_rows, args.steps, seed=fold)
        eval_rows = np.concatenate([test_rows, np.flatnonzero(data.held_out_reals())])
        scores = clip_scores(data, eval_rows, window_logits(model, data, eval_rows))
        table = [generator_row(data, scores, g, test_rows) for g in GENERATOR_FOLDS[fold]]
        result = {
            "fold": fold,
            "generators": table,
            "clip_logits": scores,
            "clip_labels": {str(data.clip[r]): bool(data.fake[r]) for r in eval_rows},
            "held_out_real_clips": sorted(
                {str(data.clip[r]) for r in np.flatnonzero(data.held_out_reals())}
            ),
        }
        (args.out / f"fold{fold}.json").write_text(json.dumps(result, indent=1))
        torch.save(model.state_dict(), args.out / f"fold{fold}.pt")
        print(json.dumps(table), flush=True)
    if args.release:
        rows = np.flatnonzero(~data.held_out_reals())
        model = train_model(data, rows, args.steps, seed=100)
        torch.save(model.state_dict(), args.out / "release.pt")
        held = np.flatnonzero(data.held_out_reals())
        scores = clip_scores(data, held, window_logits(model, data, held))
        (args.out / "release_held_out_reals.json").write_text(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
