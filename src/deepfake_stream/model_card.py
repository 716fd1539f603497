"""The model card: which weights are loaded, how they were trained and how they are used. The
API serves it at /v1/model; each worker publishes its own to the database at start, for an API
front that loads no model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from . import __version__
from .audio.weights import VoiceManifest
from .detection.crop import CropSpec
from .detection.fusion import FusionManifest
from .detection.weights import WeightsManifest
from .schema import ModelResult

if TYPE_CHECKING:
    from .pipeline import Analyzer


class ModelCard(ModelResult):
    service_version: str
    crop: CropSpec = Field(description="How faces are cut and normalised for the model.")
    real_below: float = Field(description="Below it a video or stream is real.")
    photo_real_below: float = Field(description="Below it a photo is real.")
    fake_at_or_above: float = Field(description="At or above it a video or stream is fake.")
    photo_fake_at_or_above: float = Field(description="At or above it a photo is fake.")
    manifest: WeightsManifest | None
    fusion_manifest: FusionManifest | None = Field(
        description="The fusion in force: branch weights, thresholds, per-family metrics."
    )
    voice_manifest: VoiceManifest | None = Field(
        default=None,
        description="The voice branch's weights: features, thresholds, training data and the "
        "leave-generators-out table; null when the branch is off.",
    )


def build_model_card(analyzer: Analyzer) -> ModelCard:
    model = analyzer.model
    return ModelCard(
        **analyzer.model_result().model_dump(),
        service_version=__version__,
        crop=model.crop,
        real_below=model.policy.real_below,
        photo_real_below=model.policy.photo_real_below,
        fake_at_or_above=model.policy.fake_at_or_above,
        photo_fake_at_or_above=model.policy.photo_fake_at_or_above,
        manifest=model.manifest,
        fusion_manifest=analyzer.fusion,
        voice_manifest=None if analyzer.voice is None else analyzer.voice.manifest,
    )
