"""Fitting the fusion: `deepfake-stream fuse --config configs/train/<fusion>.yaml`.

The branches' releases are scored on the validation samples of one training config (the
same groups, families and synthesised fakes they were validated on); the fusion weights and
temperature are fitted to minimise the log loss of the fused probability, the verdict
thresholds are chosen on it, and every branch alone and the fusion are reported per family.
The face branch's embeddings of the same samples give the novelty reference: their mean and
(Ledoit-Wolf shrunk) precision, and the distance that `novelty_percentile` of them stay
within. The result is weights/<name>.json (detection.fusion.FusionManifest) and
weights/<name>-novelty.safetensors.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from sklearn.covariance import LedoitWolf

from ..config import ModelSettings
from ..detection.branches import calibrated_logits
from ..detection.engine import build_engine
from ..detection.fusion import (
    Branch,
    FusionManifest,
    NoveltyModel,
    NoveltyReference,
    fuse_logits,
)
from ..detection.weights import (
    Thresholds,
    load_trained_detector,
    read_manifest,
    write_manifest,
)
from ..errors import ConfigError
from .dataset import renderer_for, synthesis_landmarks, validation_samples
from .metrics import choose_thresholds, classification_report, family_reports, log_loss
from .recipe import load_train_settings, read_records
from .samples import Sample

log = logging.getLogger(__name__)


class FusionFitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "fusion"
    output: Path = Path("weights")
    # The training config whose validation samples the fusion is fitted on.
    validation_of: Path
    # Each branch's released manifest; the face branch is required.
    branches: dict[Branch, Path]
    validation_per_family: int | None = Field(default=None, ge=1)  # overrides the config's
    # Validation faces farther from the training faces than this share of them count as novel.
    novelty_percentile: float = Field(default=99.0, gt=50.0, lt=100.0)
    threads: int = Field(default=2, ge=1)


def load_fusion_fit_settings(path: Path) -> FusionFitSettings:
    return FusionFitSettings.model_validate(yaml.safe_load(path.read_text()) or {})


def fit_weights(
    calibrated: dict[Branch, np.ndarray], labels: np.ndarray
) -> tuple[dict[Branch, float], float]:
    """Fusion weights (non-negative, summing to 1) and temperature minimising the log loss of
    sigmoid(weighted mean of calibrated logits / T)."""
    branches = list(calibrated)
    if len(branches) == 1:
        return {branches[0]: 1.0}, 1.0

    def unpack(params: np.ndarray) -> tuple[dict[Branch, float], float]:
        shares = np.exp(params[:-1] - params[:-1].max())
        shares /= shares.sum()
        return dict(zip(branches, shares.tolist(), strict=True)), float(np.exp(params[-1]))

    def loss(params: np.ndarray) -> float:
        weights, temperature = unpack(params)
        fused = fuse_logits(calibrated, weights, temperature)
        return log_loss(labels, 1.0 / (1.0 + np.exp(-fused)))

    start = np.zeros(len(branches) + 1)
    result = minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-7})
    weights, temperature = unpack(result.x)
    return {branch: round(w, 6) for branch, w in weights.items()}, round(temperature, 6)


def _report(
    labels: np.ndarray, probabilities: np.ndarray, families: Sequence[str], threshold: float
) -> dict[str, dict[str, float]]:
    overall = classification_report(labels, probabilities, threshold).as_dict()
    report = {
        "all": {
            key: float(value)
            for key, value in overall.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
    }
    for family, part in family_reports(labels, probabilities, families, threshold).items():
        report[family] = part.as_metrics()
    return report


def _fit_novelty(
    embeddings: np.ndarray, settings: FusionFitSettings, output: Path
) -> NoveltyReference:
    """The novelty reference of the validation faces' embeddings, written beside the manifest."""
    covariance = LedoitWolf().fit(embeddings.astype(np.float64))
    model = NoveltyModel(covariance.location_, covariance.precision_)
    distances = model.distances(embeddings)
    threshold = float(np.percentile(distances, settings.novelty_percentile))
    path = output / f"{settings.name}-novelty.safetensors"
    sha = model.save(path)
    log.info("novelty: %d embeddings, threshold %.2f", len(embeddings), threshold)
    return NoveltyReference(
        file=path.name,
        sha256=sha,
        threshold=round(threshold, 4),
        percentile=settings.novelty_percentile,
    )


def fit_fusion(settings: FusionFitSettings, command: str | None = None) -> Path:
    """Score the validation samples with every branch, fit, and write the fusion manifest."""
    if Branch.FACE not in settings.branches:
        raise ConfigError("the fusion needs the face branch")
    train_settings = load_train_settings(settings.validation_of)
    if settings.validation_per_family is not None:
        train_settings = train_settings.model_copy(
            update={"validation_per_family": settings.validation_per_family}
        )
    _, validation_records = read_records(train_settings)
    face_manifest = read_manifest(settings.branches[Branch.FACE])
    # The same validation samples as the face release's training scored: the same faces
    # synthesised from (synthesise_from), so its figures and the fusion's agree.
    landmarks = synthesis_landmarks(train_settings, validation_records, face_manifest.crop)
    samples: list[Sample] = validation_samples(train_settings, validation_records, landmarks)
    labels = np.array([sample.label for sample in samples])
    families = [sample.family for sample in samples]
    renderer = renderer_for(train_settings, validation_records, landmarks, face_manifest.crop)
    crops = np.stack([renderer.render(sample, i, 0, False) for i, sample in enumerate(samples)])
    log.info("rendered %d validation samples", len(samples))

    engine_settings = ModelSettings(engine="torch", threads=settings.threads, batch_size=16)
    engines, temperatures = {}, {}
    for branch, manifest_path in settings.branches.items():
        detector, manifest = load_trained_detector(manifest_path)
        engines[branch] = build_engine(detector, engine_settings, manifest.sha256)
        temperatures[branch] = manifest.temperature
    try:  # the engines batch by batch_size
        calibrated, face_embeddings = calibrated_logits(engines, temperatures, crops)
    finally:
        for engine in engines.values():
            engine.close()
    assert face_embeddings is not None  # the face branch is checked for above
    log.info("scored the branches %s", [branch.value for branch in engines])

    weights, temperature = fit_weights(calibrated, labels)
    fused = 1.0 / (1.0 + np.exp(-fuse_logits(calibrated, weights, temperature)))
    real_below, fake_at_or_above = choose_thresholds(labels, fused)
    metrics = {"fusion": _report(labels, fused, families, fake_at_or_above)}
    for branch, z in calibrated.items():
        branch_probabilities = 1.0 / (1.0 + np.exp(-z))
        metrics[branch.value] = _report(labels, branch_probabilities, families, 0.5)
    output = settings.output
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = output / f"{settings.name}.json"
    novelty = _fit_novelty(face_embeddings, settings, output)
    fusion = FusionManifest(
        name=settings.name,
        face_sha256=face_manifest.sha256,
        branch_manifests={
            branch: os.path.relpath(Path(path).resolve(), output.resolve())
            for branch, path in settings.branches.items()
            if branch is not Branch.FACE
        },
        weights=weights,
        temperature=temperature,
        thresholds=Thresholds(real_below=real_below, fake_at_or_above=fake_at_or_above),
        fitted_on=(
            f"validation samples of {settings.validation_of} ({len(samples)}: "
            + ", ".join(f"{f} {families.count(f)}" for f in sorted(set(families)))
            + ")"
        ),
        fitting_command=command or " ".join(sys.argv),
        metrics=metrics,
        novelty=novelty,
    )
    write_manifest(manifest_path, fusion)
    log.info("wrote %s: weights %s, T %.3f", manifest_path, weights, temperature)
    return manifest_path
