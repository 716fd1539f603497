"""Training: `deepfake-stream train --config configs/train/<name>.yaml`.

Face crops from metadata.csv folders, each folder's fakes a family, split by group; fakes
synthesised from the real crops (synthesis.py); draws balanced across families by the
config's shares; degradations as in the wild; AdamW with warm-up then cosine; AMP on CUDA; a
resumable checkpoint per epoch; temperature and verdict thresholds fitted on validation,
metrics per family; the result written as a verified weights release (safetensors +
manifest). Any registered architecture trains here: the face branch and the frequency branch.

On a CPU, `render_once` draws and renders an epoch's crops once and reuses them, and with
`frozen_stages` the frozen trunk's features are computed once too: only the top is trained,
so each epoch costs a fraction of a full pass.
"""

from __future__ import annotations

import ctypes
import logging
import math
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, WeightedRandomSampler

from ..detection.model import DeepfakeDetector, Detector, Preprocessing, create_detector
from ..detection.weights import (
    Thresholds,
    WeightsManifest,
    load_trained_detector,
    save_detector_weights,
    write_manifest,
)
from ..errors import ConfigError
from .augment import AugmentOptions
from .data import REAL_FAMILY, FaceRecord, read_face_folders, split_by_group, without_groups
from .metrics import (
    choose_thresholds,
    classification_report,
    family_reports,
    fit_temperature,
)
from .samples import (
    DonorPool,
    Landmarks,
    RenderOptions,
    Sample,
    SampleRenderer,
    build_samples,
    sample_weights,
    subsample_per_family,
)
from .synthesis import FAMILIES as SYNTHETIC_FAMILIES

log = logging.getLogger(__name__)

# A progress line every this many optimiser steps (an epoch on CPU takes tens of minutes).
LOG_EVERY_STEPS = 100
# The crop side that imported landmarks are given at (training/importer.py).
IMPORTED_CROP_SIDE = 224
# Real crops per MTCNN batch when finding the landmarks that synthesised fakes need.
LANDMARK_BATCH = 64
# glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (mallopt): training allocates and frees the
# same large activation buffers every step; served by fresh mmaps each time, a CPU step spent
# over half its time in the kernel (measured: a Lite0 batch of 64 took 3.7 s, 1.4 s without).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
TRIM_THRESHOLD = 1 << 30


class DataSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path  # a metadata.csv folder
    family: str = "fake"  # the family of its fakes (rows may name their own)
    source: str | None = None  # the source of rows without a `source` column (else their folder)


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: list[DataSource]  # face-crop folders; a plain path is one folder of family "fake"
    data_terms: str = ""  # the data's licence or terms of use, copied into the manifest
    name: str = "srm-lite0-dfdc"  # release name: <output>/<name>.safetensors and .json
    output: Path = Path("weights")
    architecture: str = "srm_efficientnet_lite0"
    init_weights: Path | None = None  # a released manifest to start from instead of ImageNet
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    exclude_groups: list[str] = []  # groups held out entirely (videos kept for end-to-end checks)
    seed: int = 0
    epochs: int = Field(default=6, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=1e-4, ge=0.0)
    warmup_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    frozen_stages: int = Field(default=3, ge=0)  # stem + this many backbone stages stay as loaded
    # Share of draws per family: "real", each folder's fake family, and synthesised families
    # (swap, mouth, resolution, sbi). Normalised; a family left out is not drawn.
    draw_shares: dict[str, float] = {REAL_FAMILY: 0.5, "fake": 0.5}
    samples_per_epoch: int | None = Field(default=None, ge=1)  # None: one per training record
    # Draw and render one epoch's samples once and train every epoch on them (CPU recipes).
    render_once: bool = False
    validation_per_family: int | None = Field(default=None, ge=1)  # cap per validation family
    # A family of draw_shares kept out of training but scored on validation, so that its AUC
    # says how the rest generalise to it (leave-one-family-out: training/lofo.py).
    leave_out: str | None = None
    # How the real share is split among the real faces' sources (the `source` column, else the
    # first folder: dfdc-faces' reals are "real"). None: in proportion to their sizes.
    real_source_shares: dict[str, float] | None = None
    # The sources whose real faces the synthesised families are made from (None: every source).
    # Sources imported by `data import` carry their landmarks; others need an MTCNN pass.
    synthesise_from: list[str] | None = None
    geometry_jitter: float = Field(default=0.05, ge=0.0, le=0.3)  # random zoom/shift, share of side
    # Share of samples, real and fake alike, with black beyond an edge (augment.black_edges):
    # for sources whose crops have black margins, which must not become a cue.
    frame_edge_p: float = Field(default=0.0, ge=0.0, le=1.0)
    crop_margin: float = -0.15  # the serving crop geometry these crops correspond to
    crop_offset_y: float = 0.10  # (measured: see weights/README.md)
    # Crops whose source face was wider than this are reduced to it (then resized back), and
    # serving does the same: the model never sees more detail than the median DFDC crop has.
    max_native_side: int | None = Field(default=160, ge=16)
    # Every crop, training and validation, ends with a JPEG encode at this quality, and so does
    # every serving crop: the dataset's crops are all JPEG quality 75, and a model trained on
    # them reads a crop without JPEG blocking as a cue (measured: weights/README.md).
    crop_jpeg_quality: int | None = Field(default=75, ge=1, le=100)
    max_train: int | None = None  # cap on training records (quick runs)
    max_validation: int | None = None
    workers: int = Field(default=2, ge=0)
    device: str = "cpu"
    checkpoint: Path = Path(".cache/train/checkpoint.pt")
    landmarks_cache: Path = Path(".cache/landmarks/landmarks.npz")

    @field_validator("data", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return [{"path": value}]
        return value

    @model_validator(mode="after")
    def _check_shares(self) -> TrainSettings:
        families = {source.family for source in self.data} | {REAL_FAMILY}
        unknown = set(self.draw_shares) - families - set(SYNTHETIC_FAMILIES)
        if unknown:
            raise ValueError(
                f"draw_shares names {sorted(unknown)}: neither a folder's family "
                f"({sorted(families)}) nor a synthesised one ({list(SYNTHETIC_FAMILIES)})"
            )
        if any(share < 0 for share in self.draw_shares.values()):
            raise ValueError("draw_shares must not be negative")
        if self.leave_out is not None and (
            self.leave_out == REAL_FAMILY or not self.draw_shares.get(self.leave_out)
        ):
            raise ValueError(
                f"leave_out {self.leave_out!r} must be a fake family with a share in draw_shares"
            )
        fake_shares = [s for f, s in self.training_shares.items() if f != REAL_FAMILY]
        if not self.draw_shares.get(REAL_FAMILY) or sum(fake_shares) <= 0:
            raise ValueError("draw_shares needs a share for real and at least one fake family")
        return self

    @property
    def training_shares(self) -> dict[str, float]:
        """The draw shares that training uses: draw_shares without the left-out family."""
        return {f: s for f, s in self.draw_shares.items() if f != self.leave_out}

    @property
    def synthetic_families(self) -> list[str]:
        """The synthesised families that training draws."""
        return [f for f, s in self.training_shares.items() if f in SYNTHETIC_FAMILIES and s > 0]

    @property
    def validation_synthetic_families(self) -> list[str]:
        """The synthesised families that validation scores: the trained ones and the left-out."""
        left_out = [self.leave_out] if self.leave_out in SYNTHETIC_FAMILIES else []
        return [*self.synthetic_families, *left_out]


def load_train_settings(path: Path) -> TrainSettings:
    return TrainSettings.model_validate(yaml.safe_load(path.read_text()) or {})


def grouped_split(
    records: Sequence[FaceRecord], settings: TrainSettings
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Training and validation records as this config splits them: its held-out groups
    dropped, the rest split by group (no source video on both sides)."""
    kept = without_groups(records, settings.exclude_groups)
    return split_by_group(kept, settings.validation_fraction, settings.seed)


def read_records(settings: TrainSettings) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """The config's (training, validation) records, split and capped."""
    records = read_face_folders(
        [(source.path, source.family, source.source) for source in settings.data]
    )
    train_records, validation_records = grouped_split(records, settings)
    rng = np.random.default_rng(settings.seed)
    if settings.max_train is not None and len(train_records) > settings.max_train:
        chosen = rng.choice(len(train_records), settings.max_train, replace=False)
        train_records = [train_records[i] for i in sorted(chosen)]
    if settings.max_validation is not None and len(validation_records) > settings.max_validation:
        chosen = rng.choice(len(validation_records), settings.max_validation, replace=False)
        validation_records = [validation_records[i] for i in sorted(chosen)]
    return train_records, validation_records


def crop_landmarks(
    records: Sequence[FaceRecord], size: int, cache: Path | None = None
) -> Landmarks:
    """MTCNN's five points on each real crop (self-blending needs them), cached on disk."""
    from ..config import FaceSettings
    from ..detection.faces import FaceDetector
    from ..media import ImagePicture

    known: Landmarks = {}
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            known = {Path(key): stored[key] for key in stored.files}
    # Imported folders carry the points found on the full photo (at the 224-px crop's scale).
    for record in records:
        if record.landmarks is not None and record.label == 0:
            points = np.asarray(record.landmarks, dtype=np.float32).reshape(5, 2)
            known[record.path] = points * (size / IMPORTED_CROP_SIDE)
    wanted = [r for r in records if r.label == 0 and r.path not in known]
    if wanted:
        # The crops are faces already: accept weak detections, keep the most confident.
        settings = FaceSettings(
            min_confidence=0.5, min_confidence_in_track=0.5, detect_batch_size=LANDMARK_BATCH
        )
        detector = FaceDetector(settings, crop_size=size)
        for start in range(0, len(wanted), LANDMARK_BATCH):
            # Dataset crops share one size, so a chunk goes through MTCNN as one batch (one
            # crop at a time took 675 s for 12,063 crops on 2 cores).
            chunk = wanted[start : start + LANDMARK_BATCH]
            pixels = [np.asarray(Image.open(record.path).convert("RGB")) for record in chunk]
            # No crop is downscaled for detection; crops of another size go one at a time.
            full_size = max(min(image.shape[:2]) for image in pixels)
            found = detector.detect([ImagePicture(image) for image in pixels], full_size)
            for record, image, faces in zip(chunk, pixels, found, strict=True):
                if faces:
                    best = max(faces, key=lambda face: face.confidence)
                    # Crops are used resized to size x size.
                    scale = np.array([size / image.shape[1], size / image.shape[0]])
                    known[record.path] = (np.asarray(best.landmarks) * scale).astype(np.float32)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            arrays: dict[str, Any] = {str(path): points for path, points in known.items()}
            np.savez(cache, **arrays)
    return known


def to_tensor(crop: np.ndarray, preprocessing: Preprocessing) -> torch.Tensor:
    mean = torch.tensor(preprocessing.mean).view(3, 1, 1)
    std = torch.tensor(preprocessing.std).view(3, 1, 1)
    pixels = torch.from_numpy(np.array(crop, copy=True)).permute(2, 0, 1).float() / 255.0
    return (pixels - mean) / std


class SampleDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Samples rendered (training: synthesised, degraded) into normalised tensors."""

    def __init__(
        self,
        samples: Sequence[Sample],
        renderer: SampleRenderer,
        preprocessing: Preprocessing,
        training: bool,
    ) -> None:
        self.samples = list(samples)
        self.renderer = renderer
        self.preprocessing = preprocessing
        self.training = training
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        crop = self.renderer.render(sample, index, self.epoch, self.training)
        return to_tensor(crop, self.preprocessing), torch.tensor(float(sample.label))


def validation_samples(
    settings: TrainSettings, records: Sequence[FaceRecord], landmarks: Landmarks
) -> list[Sample]:
    """The validation set: every record, and each synthesised family made from its reals,
    at most validation_per_family of each family."""
    samples = build_samples(records, settings.validation_synthetic_families, landmarks)
    return subsample_per_family(samples, settings.validation_per_family, settings.seed + 1)


def renderer_for(
    settings: TrainSettings, records: Sequence[FaceRecord], landmarks: Landmarks, size: int
) -> SampleRenderer:
    """Swaps take their donors from the same side of the split as the face they replace."""
    options = RenderOptions(
        size=size,
        max_native_side=settings.max_native_side,
        crop_jpeg_quality=settings.crop_jpeg_quality,
        geometry_jitter=settings.geometry_jitter,
        seed=settings.seed,
    )
    augment_options = AugmentOptions(frame_edge_p=settings.frame_edge_p)
    return SampleRenderer(options, landmarks, DonorPool(records, landmarks), augment_options)


def freeze_early_layers(model: Detector, stages: int) -> None:
    """Keep the stem and the first `stages` backbone stages as loaded (ImageNet or a release):
    CPU training is 2.4x faster with three frozen, and low-level filters transfer well."""
    if stages <= 0:
        return
    if not isinstance(model, DeepfakeDetector):
        raise ConfigError(f"frozen_stages needs a backbone; {model.spec.name} has none")
    frozen = [model.backbone.conv_stem, model.backbone.bn1, *model.backbone.blocks[:stages]]
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad = False


def _keep_frozen_norms_in_eval(model: nn.Module) -> None:
    """Frozen layers' BatchNorm keeps its statistics instead of drifting to batches."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def keep_freed_memory() -> None:
    """Ask glibc to reuse freed activation buffers instead of unmapping them (see above)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def predict_logits(
    model: nn.Module, loader: DataLoader[tuple[torch.Tensor, torch.Tensor]], device: str
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    logits, labels = [], []
    with torch.inference_mode():
        for images, targets in loader:
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            logits.append(model(images).float().cpu().numpy())
            labels.append(targets.numpy())
    return np.concatenate(logits), np.concatenate(labels).astype(int)


class RenderedEpoch:
    """One epoch's drawn samples, rendered once (render_once): normalised crops, or with
    frozen stages the frozen trunk's features of them, in memory as float16."""

    def __init__(
        self,
        model: Detector,
        dataset: SampleDataset,
        indices: list[int],
        settings: TrainSettings,
    ) -> None:
        self.trunk_stages = settings.frozen_stages if isinstance(model, DeepfakeDetector) else 0
        loader = DataLoader(
            Subset(dataset, indices), settings.batch_size, num_workers=settings.workers
        )
        inputs, labels = [], []
        started = time.perf_counter()
        model.eval()
        with torch.inference_mode():
            for images, targets in loader:
                images = images.to(settings.device)
                if self.trunk_stages:
                    assert isinstance(model, DeepfakeDetector)
                    images = model.forward_trunk(images, self.trunk_stages)
                inputs.append(images.half().cpu())
                labels.append(targets)
                if len(inputs) % LOG_EVERY_STEPS == 0:
                    log.info(
                        "rendered %d of %d draws", len(inputs) * settings.batch_size, len(indices)
                    )
        self.inputs = torch.cat(inputs)
        self.labels = torch.cat(labels)
        log.info(
            "rendered %d draws once in %.0f s (%s)",
            len(indices),
            time.perf_counter() - started,
            f"trunk features after {self.trunk_stages} stages" if self.trunk_stages else "crops",
        )

    def batches(self, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        order = torch.randperm(len(self.labels), generator=generator)
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def forward(self, model: Detector, batch: torch.Tensor, device: str) -> torch.Tensor:
        inputs = self.inputs[batch].float().to(device)
        if self.trunk_stages:
            assert isinstance(model, DeepfakeDetector)
            return model.forward_top(inputs, self.trunk_stages)
        logits: torch.Tensor = model(inputs.contiguous(memory_format=torch.channels_last))
        return logits


def _initial_model(settings: TrainSettings) -> Detector:
    if settings.init_weights is None:
        return create_detector(settings.architecture)
    model, manifest = load_trained_detector(settings.init_weights)
    if manifest.architecture != settings.architecture:
        raise ConfigError(
            f"init_weights {settings.init_weights} are {manifest.architecture}, "
            f"not {settings.architecture}"
        )
    return model


def train(settings: TrainSettings, command: str | None = None) -> Path:
    """Train, calibrate and write a weights release; returns the manifest's path."""
    torch.manual_seed(settings.seed)
    keep_freed_memory()
    train_records, validation_records = read_records(settings)
    device = settings.device
    model = _initial_model(settings)
    size = model.preprocessing.input_size
    landmarks: Landmarks = {}
    if settings.validation_synthetic_families:
        started = time.perf_counter()
        landmarks = crop_landmarks(
            [
                record
                for record in [*train_records, *validation_records]
                if settings.synthesise_from is None or record.source in settings.synthesise_from
            ],
            size,
            settings.landmarks_cache,
        )
        log.info(
            "landmarks for %d real crops in %.0f s", len(landmarks), time.perf_counter() - started
        )
    train_samples = build_samples(train_records, settings.synthetic_families, landmarks)
    held_out = validation_samples(settings, validation_records, landmarks)
    log.info(
        "train %d records as %s; validation %s (%d groups held out)",
        len(train_records),
        dict(Counter(s.family for s in train_samples)),
        dict(Counter(s.family for s in held_out)),
        len(settings.exclude_groups),
    )
    freeze_early_layers(model, settings.frozen_stages)
    model = model.to(device).to(memory_format=torch.channels_last)
    preprocessing = model.preprocessing
    train_set = SampleDataset(
        train_samples, renderer_for(settings, train_records, landmarks, size), preprocessing, True
    )
    validation_set = SampleDataset(
        held_out, renderer_for(settings, validation_records, landmarks, size), preprocessing, False
    )
    draws = settings.samples_per_epoch or len(train_records)
    sampler = WeightedRandomSampler(
        sample_weights(train_samples, settings.training_shares, settings.real_source_shares),
        num_samples=draws,
        generator=torch.Generator().manual_seed(settings.seed),
    )
    validation_loader = DataLoader(
        validation_set, settings.batch_size, num_workers=settings.workers
    )
    rendered = (
        RenderedEpoch(model, train_set, list(sampler), settings) if settings.render_once else None
    )
    train_loader = DataLoader(
        train_set, settings.batch_size, sampler=sampler, num_workers=settings.workers
    )
    steps_per_epoch = math.ceil(draws / settings.batch_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total_steps = settings.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_cosine(total_steps, max(1, int(settings.warmup_fraction * total_steps))),
    )
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_function = nn.BCEWithLogitsLoss()
    shuffle = torch.Generator().manual_seed(settings.seed)

    first_epoch = 0
    # The last epoch's validation logits, reused for calibration (None after a resume that
    # had no epoch left to run).
    validation: tuple[np.ndarray, np.ndarray] | None = None
    if settings.checkpoint.is_file():
        state = torch.load(settings.checkpoint, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        shuffle.set_state(state["shuffle"])
        first_epoch = int(state["epoch"])
        log.info("resumed from %s after epoch %d", settings.checkpoint, first_epoch)

    for epoch in range(first_epoch, settings.epochs):
        started = time.perf_counter()
        train_set.epoch = epoch
        model.train()
        _keep_frozen_norms_in_eval(model)
        total_loss, seen = 0.0, 0

        def step_on(logits: torch.Tensor, targets: torch.Tensor) -> None:
            nonlocal total_loss, seen
            loss = loss_function(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += float(loss.detach()) * len(targets)
            seen += len(targets)

        batches: Any = (
            rendered.batches(settings.batch_size, shuffle) if rendered is not None else train_loader
        )
        for step, batch in enumerate(batches, start=1):
            with torch.autocast("cuda", enabled=use_amp):
                if rendered is not None:
                    logits = rendered.forward(model, batch, device)
                    targets = rendered.labels[batch].to(device)
                else:
                    images, targets = batch
                    images = images.to(device).contiguous(memory_format=torch.channels_last)
                    targets = targets.to(device)
                    logits = model(images)
            step_on(logits, targets)
            if step % LOG_EVERY_STEPS == 0:
                log.info(
                    "epoch %d step %d/%d  loss %.4f  %.1f crops/s",
                    epoch + 1,
                    step,
                    steps_per_epoch,
                    total_loss / seen,
                    seen / (time.perf_counter() - started),
                )
        logits_v, labels_v = validation = predict_logits(model, validation_loader, device)
        probabilities = 1 / (1 + np.exp(-logits_v))
        report = classification_report(labels_v, probabilities, 0.5)
        by_family = family_reports(labels_v, probabilities, [s.family for s in held_out])
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val auc %s  %.0f s; auc by family %s",
            epoch + 1,
            settings.epochs,
            total_loss / max(1, seen),
            report.log_loss,
            "n/a" if report.auc is None else f"{report.auc:.4f}",
            time.perf_counter() - started,
            {family: round(part.auc, 4) for family, part in by_family.items()},
        )
        settings.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        partial = settings.checkpoint.with_suffix(".partial")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "shuffle": shuffle.get_state(),
                "epoch": epoch + 1,
            },
            partial,
        )
        partial.replace(settings.checkpoint)

    families = ", ".join(f"{f} {s:g}" for f, s in settings.training_shares.items())
    folders = ", ".join(f"{s.path.name} ({s.family})" for s in settings.data)
    training_data = (
        f"{folders}: {len(train_records)} training and {len(validation_records)} validation"
        f" crops, split by group (seed {settings.seed}), groups {settings.exclude_groups} left"
        f" out; draw shares by family: {families}."
    )
    if settings.leave_out is not None:
        training_data += f" Family {settings.leave_out} left out of training, validated on."
    if settings.init_weights is not None:
        training_data += f" Started from {settings.init_weights.name}."
    if settings.data_terms:
        training_data += f" Terms: {settings.data_terms}"
    if validation is None:
        validation = predict_logits(model, validation_loader, device)
    return _write_release(
        model, settings, validation, [s.family for s in held_out], command, training_data
    )


def _write_release(
    model: Detector,
    settings: TrainSettings,
    validation: tuple[np.ndarray, np.ndarray],
    families: Sequence[str],
    command: str | None,
    training_data: str,
) -> Path:
    logits, labels = validation
    temperature = fit_temperature(logits, labels)
    probabilities = 1 / (1 + np.exp(-logits / temperature))
    real_below, fake_at_or_above = choose_thresholds(labels, probabilities)
    report = classification_report(labels, probabilities, fake_at_or_above)
    settings.output.mkdir(parents=True, exist_ok=True)
    weights_path = settings.output / f"{settings.name}.safetensors"
    sha = save_detector_weights(model.cpu(), weights_path)
    contract = model.preprocessing
    metrics = {
        key: float(value)
        for key, value in report.as_dict().items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    manifest = WeightsManifest(
        name=settings.name,
        architecture=settings.architecture,
        file=weights_path.name,
        sha256=sha,
        input_size=contract.input_size,
        mean=contract.mean,
        std=contract.std,
        crop_margin=settings.crop_margin,
        crop_offset_y=settings.crop_offset_y,
        max_native_side=settings.max_native_side,
        crop_jpeg_quality=settings.crop_jpeg_quality,
        temperature=temperature,
        thresholds=Thresholds(real_below=real_below, fake_at_or_above=fake_at_or_above),
        training_data=training_data,
        training_command=command or " ".join(sys.argv),
        trained_on=_hardware(settings.device),
        metrics=metrics,
        family_metrics={
            family: part.as_metrics()
            for family, part in family_reports(labels, probabilities, families).items()
        },
        draw_shares=settings.training_shares,
    )
    manifest_path = settings.output / f"{settings.name}.json"
    write_manifest(manifest_path, manifest)
    log.info("wrote %s (sha256 %s), validation %s", manifest_path, sha[:12], metrics)
    return manifest_path


def _hardware(device: str) -> str:
    """Where a release was trained, for its manifest: device, its name, torch, host."""
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = platform.processor() or platform.machine()
    return f"{device} ({name}), torch {torch.__version__}, on {platform.node() or 'unknown host'}"
