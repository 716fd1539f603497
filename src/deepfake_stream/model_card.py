"""The model card: which weights are loaded, how they were trained and how they are used. The
API serves it at /v1/model; each worker publishes its own to the database at start, for an API
front that loads no model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from . import __version__
from .detection.fusion import FusionManifest
from .detection.weights import WeightsManifest
from .schema import ModelResult

if TYPE_CHECKING:
    from .pipeline import Analyzer


class ModelCard(ModelResult):
    service_version: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_margin: float
    crop_offset_y: float
    max_native_side: int | None
    crop_jpeg_quality: int | None
    real_below: float = Field(description="Below it a video or stream is real.")
    photo_real_below: float = Field(description="Below it a photo is real.")
    fake_at_or_above: float = Field(description="At or above it a video or stream is fake.")
    photo_fake_at_or_above: float = Field(description="At or above it a photo is fake.")
    manifest: WeightsManifest | None
    fusion_manifest: FusionManifest | None = Field(
        description="The fusion in force: branch weights, thresholds, per-family metrics."
    )


def build_model_card(analyzer: Analyzer) -> ModelCard:
    model = analyzer.model
    preprocessing = analyzer.engine.preprocessing
    return ModelCard(
        **analyzer.model_result().model_dump(),
        service_version=__version__,
        input_size=preprocessing.input_size,
        mean=preprocessing.mean,
        std=preprocessing.std,
        crop_margin=model.crop_margin,
        crop_offset_y=model.crop_offset_y,
        max_native_side=model.max_native_side,
        crop_jpeg_quality=model.crop_jpeg_quality,
        real_below=model.policy.real_below,
        photo_real_below=model.policy.photo_real_below,
        fake_at_or_above=model.policy.fake_at_or_above,
        photo_fake_at_or_above=model.policy.photo_fake_at_or_above,
        manifest=model.manifest,
        fusion_manifest=analyzer.fusion,
    )
