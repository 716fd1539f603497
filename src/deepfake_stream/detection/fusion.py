"""Fusion of the branches' evidence, and when to abstain.

Each branch gives a calibrated logit (its logit over its own temperature). The fused logit
is their weighted mean over the branches that run, divided by a fusion temperature:

    z = (sum_b w_b z_b / sum_b w_b) / T

The weights and T are fitted on validation data (training.fusion) and saved in the fusion
manifest with the thresholds for the fused probability. Running a subset of the branches
renormalises the weights over that subset, so any subset gives a probability on one scale.

Abstention: when the branches disagree strongly (one says fake, another real), or when the
faces are unlike anything the model was trained on (their face-branch embeddings lie far from
the training faces' in Mahalanobis distance), the verdict is `uncertain`, with the reason in a
warning, instead of a confident answer the model has no grounds for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.numpy import load_file, save_file

from ..errors import WeightsError
from .weights import FakeCalibration, RealCalibration, Thresholds, sha256_file


class Branch(StrEnum):
    FACE = "face"  # SRM + EfficientNet on the face crop (model.weights)
    FREQUENCY = "frequency"  # CNN on the crop's block-DCT spectrum


# Branches disagree when one says at least this and another at most 1 - this.
DEFAULT_DISAGREEMENT = 0.85


class NoveltyReference(BaseModel):
    """Where the training faces' embeddings lie: mean and precision in a safetensors file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str  # relative to the fusion manifest
    sha256: str
    # A file whose faces' median distance exceeds this is unlike the training faces
    # (the distance below which this share of the validation faces fall).
    threshold: float = Field(gt=0.0)
    percentile: float


class NoveltyModel:
    """Mahalanobis distance of embeddings from the training faces' distribution."""

    def __init__(self, mean: np.ndarray, precision: np.ndarray) -> None:
        if precision.shape != (mean.size, mean.size):
            raise ValueError("precision must be a square matrix the size of the mean")
        self.mean = mean.astype(np.float64)
        self.precision = precision.astype(np.float64)

    def distances(self, embeddings: np.ndarray) -> np.ndarray:
        centred = embeddings.astype(np.float64) - self.mean
        squared = np.einsum("ij,jk,ik->i", centred, self.precision, centred)
        return np.asarray(np.sqrt(np.maximum(squared, 0.0)))

    def save(self, path: Path) -> str:
        save_file({"mean": self.mean, "precision": self.precision}, str(path))
        return sha256_file(path)

    @classmethod
    def load(cls, path: Path, sha256: str) -> NoveltyModel:
        if not path.is_file():
            raise WeightsError(f"novelty reference not found: {path}")
        if sha256_file(path) != sha256:
            raise WeightsError(f"novelty reference {path} does not match its sha256: refusing it")
        arrays = load_file(str(path))
        return cls(arrays["mean"], arrays["precision"])


class FusionManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    # The face weights the fusion was fitted with (sha256 of their file): fused with other
    # face weights, the fitted weights and thresholds would mean nothing.
    face_sha256: str
    # Other branches' weights manifests, relative to this file.
    branch_manifests: dict[Branch, str]
    weights: dict[Branch, float]  # fusion weight of each branch's calibrated logit
    temperature: float = Field(default=1.0, gt=0.0)  # of the weighted mean
    thresholds: Thresholds  # for the fused probability
    calibration: RealCalibration | None = None  # set when real_below was calibrated
    photo_calibration: RealCalibration | None = None  # set when photo_real_below was
    photo_fake_calibration: FakeCalibration | None = None  # set when photo_fake_at_or_above was
    disagreement: float = Field(default=DEFAULT_DISAGREEMENT, gt=0.5, le=1.0)
    novelty: NoveltyReference | None = None  # of the face branch's embeddings
    fitted_on: str  # the validation data the weights and thresholds were fitted on
    fitting_command: str
    # Validation metrics: {"fusion" or branch: {family or "all": {metric: value}}}.
    metrics: dict[str, dict[str, dict[str, float]]] = {}


def read_fusion_manifest(path: Path) -> FusionManifest:
    if not path.is_file():
        raise WeightsError(f"fusion manifest not found: {path}")
    try:
        manifest = FusionManifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise WeightsError(f"fusion manifest {path} is invalid: {exc}") from exc
    if Branch.FACE not in manifest.weights:
        raise WeightsError(f"fusion manifest {path} has no weight for the face branch")
    return manifest


def fuse_logits(
    logits: Mapping[Branch, np.ndarray], weights: Mapping[Branch, float], temperature: float
) -> np.ndarray:
    """The fused logit of each sample: the weighted mean over the given branches, over T."""
    if not logits:
        raise ValueError("nothing to fuse")
    total = sum(weights[branch] for branch in logits)
    if total <= 0:
        raise ValueError("the fused branches' weights add up to 0")
    mean = sum(weights[branch] * np.asarray(z, np.float64) for branch, z in logits.items())
    return np.asarray(mean / total / temperature)


def disagreement_warning(probabilities: Mapping[Branch, float | None], level: float) -> str | None:
    """A warning when one branch says fake (p >= level) and another real (p <= 1 - level)."""
    known = {branch: p for branch, p in probabilities.items() if p is not None}
    if len(known) < 2 or max(known.values()) < level or min(known.values()) > 1 - level:
        return None
    listed = ", ".join(f"{branch.value} {p:.2f}" for branch, p in known.items())
    return f"branches disagree ({listed}): the verdict is uncertain"


def novelty_warning(novelty: float | None) -> str | None:
    """A warning when the faces' median distance over the threshold exceeds 1."""
    if novelty is None or novelty <= 1.0:
        return None
    return (
        f"the faces are unlike those the model was trained on (novelty {novelty:.2f} > 1): "
        "the verdict is uncertain"
    )


def parse_branches(names: Sequence[str]) -> tuple[Branch, ...]:
    try:
        return tuple(Branch(name) for name in names)
    except ValueError:
        known = ", ".join(branch.value for branch in Branch)
        raise ValueError(f"unknown branch in {list(names)}; known: {known}") from None
