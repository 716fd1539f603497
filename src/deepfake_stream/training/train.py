"""Training: `deepfake-stream train --config configs/train/<name>.yaml`.

Face crops from a metadata.csv folder, split by group; degradations as in the wild; optional
self-blended pseudo-fakes from the real crops; AdamW with warm-up then cosine; AMP on CUDA;
a resumable checkpoint per epoch; temperature and verdict thresholds fitted on validation;
the result written as a verified weights release (safetensors + manifest).
"""

from __future__ import annotations

import logging
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from ..detection.faces import jpeg, read_dataset_crop
from ..detection.model import DeepfakeDetector, Preprocessing, create_detector
from ..detection.weights import Thresholds, WeightsManifest, save_detector_weights
from .augment import AugmentOptions, augment
from .data import FaceRecord, class_weights, read_face_folder, split_by_group, without_groups
from .metrics import choose_thresholds, classification_report, fit_temperature
from .sbi import SBIOptions, self_blend

log = logging.getLogger(__name__)

# A progress line every this many optimiser steps (an epoch on CPU takes tens of minutes).
LOG_EVERY_STEPS = 100
# Real crops per MTCNN batch when finding the landmarks that self-blending needs.
LANDMARK_BATCH = 64

Landmarks = dict[Path, np.ndarray]  # crop path -> (5, 2) MTCNN points in crop pixels


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path  # folder with metadata.csv
    data_terms: str = ""  # the data's licence or terms of use, copied into the manifest
    name: str = "srm-lite0-dfdc"  # release name: <output>/<name>.safetensors and .json
    output: Path = Path("weights")
    architecture: str = "srm_efficientnet_lite0"
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    exclude_groups: list[str] = []  # groups held out entirely (videos kept for end-to-end checks)
    seed: int = 0
    epochs: int = Field(default=6, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=1e-4, ge=0.0)
    warmup_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    frozen_stages: int = Field(default=3, ge=0)  # stem + this many backbone stages stay ImageNet
    # Share of training draws that are self-blended fakes made from real crops; reals are drawn
    # more often to supply them, so that the untouched reals stay half of every batch.
    sbi_share: float = Field(default=0.0, ge=0.0, lt=0.5)
    geometry_jitter: float = Field(default=0.05, ge=0.0, le=0.3)  # random zoom/shift, share of side
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


def load_train_settings(path: Path) -> TrainSettings:
    return TrainSettings.model_validate(yaml.safe_load(path.read_text()) or {})


def grouped_split(
    records: Sequence[FaceRecord], settings: TrainSettings
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Training and validation records as this config splits them: its held-out groups
    dropped, the rest split by group (no source video on both sides)."""
    kept = without_groups(records, settings.exclude_groups)
    return split_by_group(kept, settings.validation_fraction, settings.seed)


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


def jitter_geometry(crop: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Zoom and shift a crop slightly, so the model tolerates crop geometry that varies."""
    if amount <= 0:
        return crop
    size = crop.shape[0]
    scale = 1.0 + rng.uniform(-amount, amount)
    dx, dy = rng.uniform(-amount, amount, size=2) * size
    side = size / scale
    left, top = (size - side) / 2 + dx, (size - side) / 2 + dy
    image = Image.fromarray(crop).crop((left, top, left + side, top + side))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def to_tensor(crop: np.ndarray, preprocessing: Preprocessing) -> torch.Tensor:
    mean = torch.tensor(preprocessing.mean).view(3, 1, 1)
    std = torch.tensor(preprocessing.std).view(3, 1, 1)
    pixels = torch.from_numpy(np.array(crop, copy=True)).permute(2, 0, 1).float() / 255.0
    return (pixels - mean) / std


class CropDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Crops as tensors; in training, degraded and partly turned into self-blended fakes."""

    def __init__(
        self,
        records: Sequence[FaceRecord],
        preprocessing: Preprocessing,
        settings: TrainSettings,
        training: bool,
        landmarks: Landmarks | None = None,
    ) -> None:
        self.records = list(records)
        self.preprocessing = preprocessing
        self.settings = settings
        self.training = training
        self.landmarks = landmarks or {}
        self.epoch = 0
        self.augment_options = AugmentOptions()
        self.sbi_options = SBIOptions()
        # Reals are drawn with probability 0.5 + sbi_share; this share of them is blended.
        self.blend_probability = settings.sbi_share / (0.5 + settings.sbi_share)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.records[index]
        crop = read_dataset_crop(
            record.path,
            record.native_side,
            self.preprocessing.input_size,
            self.settings.max_native_side,
        )
        label = record.label
        if self.training:
            rng = np.random.default_rng((self.settings.seed, self.epoch, index))
            points = self.landmarks.get(record.path)
            if label == 0 and points is not None and rng.random() < self.blend_probability:
                crop, _ = self_blend(crop, points, rng, self.sbi_options)
                label = 1
            crop = jitter_geometry(crop, rng, self.settings.geometry_jitter)
            crop = augment(crop, rng, self.augment_options)
        if self.settings.crop_jpeg_quality is not None:
            crop = jpeg(crop, self.settings.crop_jpeg_quality)
        return to_tensor(crop, self.preprocessing), torch.tensor(float(label))


def freeze_early_layers(model: DeepfakeDetector, stages: int) -> None:
    """Keep the stem and the first `stages` backbone stages at their ImageNet weights: CPU
    training is 2.4x faster with three frozen, and low-level filters transfer well."""
    if stages <= 0:
        return
    frozen = [model.backbone.conv_stem, model.backbone.bn1, *model.backbone.blocks[:stages]]
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad = False


def _keep_frozen_norms_in_eval(model: DeepfakeDetector) -> None:
    """Frozen layers' BatchNorm keeps ImageNet statistics instead of drifting to batches."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


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


def train(settings: TrainSettings, command: str | None = None) -> Path:
    """Train, calibrate and write a weights release; returns the manifest's path."""
    torch.manual_seed(settings.seed)
    train_records, validation_records = grouped_split(read_face_folder(settings.data), settings)
    rng = np.random.default_rng(settings.seed)
    if settings.max_train is not None and len(train_records) > settings.max_train:
        chosen = rng.choice(len(train_records), settings.max_train, replace=False)
        train_records = [train_records[i] for i in sorted(chosen)]
    if settings.max_validation is not None and len(validation_records) > settings.max_validation:
        chosen = rng.choice(len(validation_records), settings.max_validation, replace=False)
        validation_records = [validation_records[i] for i in sorted(chosen)]
    log.info(
        "train %d crops, validation %d crops (%d groups held out)",
        len(train_records),
        len(validation_records),
        len(settings.exclude_groups),
    )

    device = settings.device
    model = create_detector(settings.architecture)
    landmarks = None
    if settings.sbi_share > 0:
        started = time.perf_counter()
        cache = settings.checkpoint.parent / "landmarks.npz"
        landmarks = crop_landmarks(train_records, model.preprocessing.input_size, cache)
        log.info(
            "landmarks for %d real crops in %.0f s", len(landmarks), time.perf_counter() - started
        )
    freeze_early_layers(model, settings.frozen_stages)
    model = model.to(device).to(memory_format=torch.channels_last)
    preprocessing = model.preprocessing
    train_set = CropDataset(train_records, preprocessing, settings, True, landmarks)
    validation_set = CropDataset(validation_records, preprocessing, settings, False)
    sampler = WeightedRandomSampler(
        class_weights(train_records, real_share=0.5 + settings.sbi_share),
        num_samples=len(train_records),
        generator=torch.Generator().manual_seed(settings.seed),
    )
    train_loader = DataLoader(
        train_set, settings.batch_size, sampler=sampler, num_workers=settings.workers
    )
    validation_loader = DataLoader(
        validation_set, settings.batch_size, num_workers=settings.workers
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total_steps = settings.epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_cosine(total_steps, max(1, int(settings.warmup_fraction * total_steps))),
    )
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_function = nn.BCEWithLogitsLoss()

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
        first_epoch = int(state["epoch"])
        log.info("resumed from %s after epoch %d", settings.checkpoint, first_epoch)

    for epoch in range(first_epoch, settings.epochs):
        started = time.perf_counter()
        train_set.epoch = epoch
        model.train()
        _keep_frozen_norms_in_eval(model)
        total_loss, seen = 0.0, 0
        for step, (images, targets) in enumerate(train_loader, start=1):
            images = images.to(device).contiguous(memory_format=torch.channels_last)
            targets = targets.to(device)
            with torch.autocast("cuda", enabled=use_amp):
                loss = loss_function(model(images).float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += float(loss.detach()) * len(targets)
            seen += len(targets)
            if step % LOG_EVERY_STEPS == 0:
                log.info(
                    "epoch %d step %d/%d  loss %.4f  %.1f crops/s",
                    epoch + 1,
                    step,
                    len(train_loader),
                    total_loss / seen,
                    seen / (time.perf_counter() - started),
                )
        logits, labels = validation = predict_logits(model, validation_loader, device)
        report = classification_report(labels, 1 / (1 + np.exp(-logits)), 0.5)
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val auc %s  %.0f s",
            epoch + 1,
            settings.epochs,
            total_loss / max(1, seen),
            report.log_loss,
            "n/a" if report.auc is None else f"{report.auc:.4f}",
            time.perf_counter() - started,
        )
        settings.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        partial = settings.checkpoint.with_suffix(".partial")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch + 1,
            },
            partial,
        )
        partial.replace(settings.checkpoint)

    training_data = (
        f"{settings.data.name}: {len(train_records)} training and {len(validation_records)}"
        f" validation crops, split by group (seed {settings.seed}), groups"
        f" {settings.exclude_groups} left out; self-blended share {settings.sbi_share}."
    )
    if settings.data_terms:
        training_data += f" Terms: {settings.data_terms}"
    if validation is None:
        validation = predict_logits(model, validation_loader, device)
    return _write_release(model, settings, validation, command, training_data)


def _write_release(
    model: DeepfakeDetector,
    settings: TrainSettings,
    validation: tuple[np.ndarray, np.ndarray],
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
    )
    manifest_path = settings.output / f"{settings.name}.json"
    manifest_path.write_text(manifest.model_dump_json(indent=2) + "\n")
    log.info("wrote %s (sha256 %s), validation %s", manifest_path, sha[:12], metrics)
    return manifest_path


def _hardware(device: str) -> str:
    """Where a release was trained, for its manifest: device, its name, torch, host."""
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = platform.processor() or platform.machine()
    return f"{device} ({name}), torch {torch.__version__}, on {platform.node() or 'unknown host'}"
