"""The model card of the loaded detector."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from ... import __version__
from ...detection.fusion import FusionManifest
from ...detection.weights import WeightsManifest
from ...schema import ModelResult
from ..deps import AnalyzerDep, CallerDep

router = APIRouter(prefix="/v1", tags=["model"])


class ModelCard(ModelResult):
    service_version: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_margin: float
    crop_offset_y: float
    max_native_side: int | None
    crop_jpeg_quality: int | None
    real_below: float
    fake_at_or_above: float
    manifest: WeightsManifest | None
    fusion_manifest: FusionManifest | None = Field(
        description="The fusion in force: branch weights, thresholds, per-family metrics."
    )


@router.get("/model")
async def model_card(_caller: CallerDep, analyzer: AnalyzerDep) -> ModelCard:
    """Which weights are loaded, how they were trained and how they are used."""
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
        real_below=model.real_below,
        fake_at_or_above=model.fake_at_or_above,
        manifest=model.manifest,
        fusion_manifest=analyzer.fusion,
    )
