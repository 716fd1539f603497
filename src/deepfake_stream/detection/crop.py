"""The crop contract: how a detected face becomes a model's input (timm's pretrained config, for
faces). A CropSpec is declared once per architecture in the registry (its default, for an
untrained model) and once per release in the weights manifest (the crop the weights were trained
with); the service, the model card, results, training and the importer all read it from there.

The steps, in order: the square around the face box (margin, offset_y), its reduction to
max_native_side when the region is larger (a face keeps no more detail than the training crops
had), the resize to size, a JPEG encode and decode at jpeg_quality (as every training crop
ended), and the normalisation by mean and std.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ..media import Picture

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
RGB = tuple[float, float, float]


class CropGeometry(BaseModel):
    """Where the crop sits around the face and what it keeps: what a training recipe chooses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Square side = (1 + margin) * the face box's longer side (negative: tighter).
    margin: float = Field(default=0.3, ge=-0.5, le=2.0)
    # The square's centre sits this many box heights below the box's centre.
    offset_y: float = Field(default=0.0, ge=-0.5, le=0.5)
    # A face region wider than this is reduced to it before the resize to `size`.
    max_native_side: int | None = Field(default=None, ge=16)
    # Every crop ends with a JPEG encode and decode at this quality (Pillow's 1-100).
    jpeg_quality: int | None = Field(default=None, ge=1, le=100)


class CropSpec(CropGeometry):
    """The whole contract: the geometry plus the model's input size and normalisation."""

    size: int = Field(ge=16)  # square crop side the model takes
    mean: RGB  # per-channel mean of 0..1 RGB
    std: RGB  # per-channel std of 0..1 RGB

    def with_geometry(self, geometry: CropGeometry) -> CropSpec:
        return self.model_copy(update=geometry.model_dump())

    def normalisation(self) -> tuple[int, RGB, RGB]:
        """What the architecture fixes: a release may change the geometry, never this."""
        return self.size, self.mean, self.std


def square_crop_box(box: Box, margin: float, offset_y: float = 0.0) -> Box:
    """The square around a face box: side = (1 + margin) * the box's longer side, centred on
    the box's centre moved down by offset_y box heights."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + offset_y * (y2 - y1)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_face(picture: Picture, box: Box, spec: CropSpec) -> np.ndarray:
    """The face's crop under `spec`, spec.size square, uint8 RGB. Outside the frame is black."""
    x1, y1, x2, y2 = (round(v) for v in square_crop_box(box, spec.margin, spec.offset_y))
    region = picture.crop_image((x1, y1, x2, y2))
    if spec.max_native_side is not None and region.width > spec.max_native_side:
        side = spec.max_native_side
        region = region.resize((side, side), Image.Resampling.BILINEAR)
    crop = np.asarray(region.resize((spec.size, spec.size), Image.Resampling.BILINEAR))
    return crop if spec.jpeg_quality is None else jpeg(crop, spec.jpeg_quality)


def jpeg(crop: np.ndarray, quality: int) -> np.ndarray:
    """The crop after a JPEG encode and decode at `quality` (Pillow's scale, 1-100)."""
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.array(decoded.convert("RGB"))


def limit_detail(crop: np.ndarray, native_side: int | None, max_side: int | None) -> np.ndarray:
    """A finished crop whose source region was native_side pixels wide, made as crop_face
    would have made it with max_native_side=max_side (for crops cut elsewhere: datasets)."""
    if max_side is None or native_side is None or native_side <= max_side:
        return crop
    size = crop.shape[0]
    image = Image.fromarray(crop).resize((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def read_dataset_crop(
    path: Path, native_side: int | None, spec: CropSpec, encode: bool = True
) -> np.ndarray:
    """A crop cut elsewhere (a dataset's image file), made as crop_face would have made it:
    resized to spec.size, the detail limit, and (with `encode`) the closing JPEG encode."""
    image = Image.open(path).convert("RGB")
    if image.size != (spec.size, spec.size):
        image = image.resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    crop = limit_detail(np.asarray(image), native_side, spec.max_native_side)
    if encode and spec.jpeg_quality is not None:
        return jpeg(crop, spec.jpeg_quality)
    return crop


def normalize_crops(crops: np.ndarray, spec: CropSpec) -> np.ndarray:
    """uint8 crops (N, S, S, 3) -> float32 (N, 3, S, S) under the spec's mean and std."""
    size = spec.size
    if crops.shape[1:] != (size, size, 3):
        raise ValueError(f"crops must be (N, {size}, {size}, 3), got {crops.shape}")
    mean = np.asarray(spec.mean, dtype=np.float32) * 255.0
    std = np.asarray(spec.std, dtype=np.float32) * 255.0
    normalized = (crops.astype(np.float32) - mean) / std
    return np.ascontiguousarray(normalized.transpose(0, 3, 1, 2))
