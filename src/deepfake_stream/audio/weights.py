"""The voice model's trained weights: a safetensors file and its JSON manifest (weights/voice-*
.json), checked by sha256 on load, as the face branch's are (detection/weights.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..detection.weights import load_weights_into, verified_weights_path
from ..errors import WeightsError
from .features import FeatureSpec

if TYPE_CHECKING:  # PyTorch loads only where the model loads: not in the job API front
    from .model import VoiceModel


class VoiceThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    real_below: float = Field(ge=0.0, le=1.0)
    fake_at_or_above: float = Field(ge=0.0, le=1.0)


class VoiceManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    architecture: str  # voice model registry name (audio/model.py)
    file: str  # safetensors, relative to the manifest
    sha256: str
    features: FeatureSpec  # the features the weights were trained on
    temperature: float = Field(default=1.0, gt=0.0)  # utterance logits are divided by this
    thresholds: VoiceThresholds
    training_data: str
    training_command: str
    trained_on: str
    metrics: dict[str, float] = {}
    # Leave-generators-out: one row per generator (its page, clips, AUC, EER).
    generator_metrics: list[dict[str, float | int | str]] = []
    # The shortcut audit: each real source's AUC against each held-out generator (out of fold).
    source_metrics: dict[str, dict[str, float]] = {}


def read_voice_manifest(path: Path) -> VoiceManifest:
    if not path.is_file():
        raise WeightsError(f"voice weights manifest not found: {path}")
    try:
        return VoiceManifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise WeightsError(f"voice weights manifest {path} is invalid: {exc}") from exc


def load_voice_model(manifest_path: Path) -> tuple[VoiceModel, VoiceManifest]:
    from .model import create_voice_model

    manifest = read_voice_manifest(manifest_path)
    weights_path = verified_weights_path(manifest_path, manifest)
    model = create_voice_model(manifest.architecture)
    if manifest.features != model.spec.features:
        raise WeightsError(
            f"manifest {manifest_path} features {manifest.features} do not match "
            f"architecture {manifest.architecture}'s {model.spec.features}"
        )
    load_weights_into(model, weights_path, "the voice model")
    return model.eval(), manifest
