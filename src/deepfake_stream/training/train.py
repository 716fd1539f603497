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
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler

from ..detection.model import DeepfakeDetector
from ..detection.registry import Detector, create_detector
from ..detection.weights import (
    Thresholds,
    WeightsManifest,
    load_trained_detector,
    save_detector_weights,
    write_manifest,
)
from ..errors import ConfigError
from .dataset import (
    RenderedEpoch,
    SampleDataset,
    renderer_for,
    synthesis_landmarks,
    validation_samples,
)
from .metrics import (
    choose_thresholds,
    classification_report,
    family_reports,
    fit_temperature,
)
from .recipe import TrainSettings, read_records
from .samples import build_samples, sample_weights

log = logging.getLogger(__name__)

# A progress line every this many optimiser steps (an epoch on CPU takes tens of minutes).
LOG_EVERY_STEPS = 100
# glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (mallopt): training allocates and frees the
# same large activation buffers every step; served by fresh mmaps each time, a CPU step spent
# over half its time in the kernel (measured: a Lite0 batch of 64 took 3.7 s, 1.4 s without).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
TRIM_THRESHOLD = 1 << 30


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
    # The architecture's input and normalisation, cut as the recipe's crops were.
    crop = model.crop.with_geometry(settings.crop)
    started = time.perf_counter()
    landmarks = synthesis_landmarks(settings, [*train_records, *validation_records], crop)
    log.info("landmarks for %d real crops in %.0f s", len(landmarks), time.perf_counter() - started)
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
    train_set = SampleDataset(
        train_samples, renderer_for(settings, train_records, landmarks, crop), True
    )
    validation_set = SampleDataset(
        held_out, renderer_for(settings, validation_records, landmarks, crop), False
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
        crop=model.crop.with_geometry(settings.crop),
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
