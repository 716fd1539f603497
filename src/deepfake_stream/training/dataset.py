"""What training feeds the network: landmarks of the real crops, samples rendered into
normalised tensors, and an epoch rendered once (render_once) for CPU recipes."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset

from ..detection.crop import CropSpec
from ..detection.model import DeepfakeDetector
from ..detection.registry import Detector
from .augment import AugmentOptions
from .data import FaceRecord
from .recipe import TrainSettings
from .samples import (
    DonorPool,
    Landmarks,
    RenderOptions,
    Sample,
    SampleRenderer,
    build_samples,
    subsample_per_family,
)

log = logging.getLogger(__name__)

# The crop side that imported landmarks are given at (training/importer.py).
IMPORTED_CROP_SIDE = 224
# Real crops per MTCNN batch when finding the landmarks that synthesised fakes need.
LANDMARK_BATCH = 64
# A progress line every this many rendered batches.
LOG_EVERY_BATCHES = 100


def crop_landmarks(
    records: Sequence[FaceRecord], crop: CropSpec, cache: Path | None = None
) -> Landmarks:
    """MTCNN's five points on each real crop of these records (self-blending needs them),
    cached on disk."""
    from ..config import FaceSettings
    from ..detection.faces import FaceDetector
    from ..media import ImagePicture

    size = crop.size
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
        detector = FaceDetector(settings, crop)
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
    # The cache may hold other recipes' crops: only these records' points, so that a recipe's
    # synthesise_from decides which faces the synthesised fakes are made from.
    return {r.path: known[r.path] for r in records if r.label == 0 and r.path in known}


def synthesis_landmarks(
    settings: TrainSettings, records: Sequence[FaceRecord], crop: CropSpec
) -> Landmarks:
    """The landmarks of the real faces this recipe synthesises fakes from (synthesise_from);
    none when it synthesises nothing."""
    if not settings.validation_synthetic_families:
        return {}
    chosen = [
        record
        for record in records
        if settings.synthesise_from is None or record.source in settings.synthesise_from
    ]
    return crop_landmarks(chosen, crop, settings.landmarks_cache)


def to_tensor(crop: np.ndarray, spec: CropSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean).view(3, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1)
    pixels = torch.from_numpy(np.array(crop, copy=True)).permute(2, 0, 1).float() / 255.0
    return (pixels - mean) / std


class SampleDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Samples rendered (training: synthesised, degraded) into normalised tensors."""

    def __init__(
        self,
        samples: Sequence[Sample],
        renderer: SampleRenderer,
        training: bool,
    ) -> None:
        self.samples = list(samples)
        self.renderer = renderer
        self.training = training
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        crop = self.renderer.render(sample, index, self.epoch, self.training)
        return to_tensor(crop, self.renderer.options.crop), torch.tensor(float(sample.label))


def validation_samples(
    settings: TrainSettings, records: Sequence[FaceRecord], landmarks: Landmarks
) -> list[Sample]:
    """The validation set: every record, and each synthesised family made from its reals,
    at most validation_per_family of each family."""
    samples = build_samples(records, settings.validation_synthetic_families, landmarks)
    return subsample_per_family(samples, settings.validation_per_family, settings.seed + 1)


def renderer_for(
    settings: TrainSettings, records: Sequence[FaceRecord], landmarks: Landmarks, crop: CropSpec
) -> SampleRenderer:
    """Swaps take their donors from the same side of the split as the face they replace."""
    options = RenderOptions(
        crop=crop,
        geometry_jitter=settings.geometry_jitter,
        seed=settings.seed,
    )
    augment_options = AugmentOptions(frame_edge_p=settings.frame_edge_p)
    return SampleRenderer(options, landmarks, DonorPool(records, landmarks), augment_options)


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
                if len(inputs) % LOG_EVERY_BATCHES == 0:
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
