"""Fusion of the branches' evidence, and when to abstain.

Each branch gives a calibrated logit (its logit over its own temperature). The fused logit
is their weighted mean over the branches that run, divided by a fusion temperature:

    z = (sum_b w_b z_b / sum_b w_b) / T

The weights and T are fitted on validation data (training.fusion) and saved in the fusion
manifest with the thresholds for the fused probability. Running a subset of the branches
renormalises the weights over that subset, so any subset gives a probability on one scale.

Abstention: when the branches disagree strongly (one says fake, another real), the verdict
is `uncertain`, with the branches' probabilities in a warning, instead of an average that
hides the conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import WeightsError
from .weights import Thresholds


class Branch(StrEnum):
    FACE = "face"  # SRM + EfficientNet on the face crop (model.weights)
    FREQUENCY = "frequency"  # CNN on the crop's block-DCT spectrum


# Branches disagree when one says at least this and another at most 1 - this.
DEFAULT_DISAGREEMENT = 0.85


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
    disagreement: float = Field(default=DEFAULT_DISAGREEMENT, gt=0.5, le=1.0)
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


def _logit(probability: float) -> float:
    p = min(max(probability, 1e-7), 1 - 1e-7)
    return float(np.log(p / (1 - p)))


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


def fuse_probabilities(
    probabilities: Mapping[Branch, float], weights: Mapping[Branch, float], temperature: float
) -> float:
    """fuse_logits for one sample given as probabilities."""
    logits = {branch: np.array([_logit(p)]) for branch, p in probabilities.items()}
    fused = float(fuse_logits(logits, weights, temperature)[0])
    return float(1.0 / (1.0 + np.exp(-fused)))


def disagreement_warning(probabilities: Mapping[Branch, float | None], level: float) -> str | None:
    """A warning when one branch says fake (p >= level) and another real (p <= 1 - level)."""
    known = {branch: p for branch, p in probabilities.items() if p is not None}
    if len(known) < 2 or max(known.values()) < level or min(known.values()) > 1 - level:
        return None
    listed = ", ".join(f"{branch.value} {p:.2f}" for branch, p in known.items())
    return f"branches disagree ({listed}): the verdict is uncertain"


def parse_branches(names: Sequence[str]) -> tuple[Branch, ...]:
    try:
        return tuple(Branch(name) for name in names)
    except ValueError:
        known = ", ".join(branch.value for branch in Branch)
        raise ValueError(f"unknown branch in {list(names)}; known: {known}") from None
