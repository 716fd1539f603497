from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.detection.crop import (
    CropGeometry,
    CropSpec,
    crop_face,
    jpeg,
    limit_detail,
    normalize_crops,
    read_dataset_crop,
    square_crop_box,
)
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture

CROP = 224
PLAIN = CropSpec(size=CROP, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), margin=0.0)


def _photo(fixtures: Path) -> ImagePicture:
    return ImagePicture(np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB")))


def test_square_crop_box_adds_the_margin_around_the_centre() -> None:
    x1, y1, x2, y2 = square_crop_box((10, 20, 50, 100), margin=0.5)
    assert x2 - x1 == pytest.approx(120) and y2 - y1 == pytest.approx(120)
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == (30, 60)


def test_square_crop_box_offset_moves_the_centre_down_in_box_heights() -> None:
    x1, y1, x2, y2 = square_crop_box((10, 20, 50, 100), margin=-0.15, offset_y=0.1)
    assert x2 - x1 == pytest.approx(68) and y2 - y1 == pytest.approx(68)
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((30, 68))


def test_crop_outside_the_frame_is_padded_black() -> None:
    rgb = np.full((100, 100, 3), 200, dtype=np.uint8)
    spec = PLAIN.model_copy(update={"size": 60, "margin": 0.5})
    crop = crop_face(ImagePicture(rgb), (0, 0, 40, 40), spec)
    assert crop.shape == (60, 60, 3)
    assert crop[0, 0].max() == 0 and crop[-1, -1].min() == 200


def _detail(crop: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: fine detail."""
    grey = crop.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_detail_limit_matches_between_serving_and_dataset_crops(
    fixtures: Path, tmp_path: Path
) -> None:
    picture = _photo(fixtures)
    box = (45.0, 90.0, 345.0, 390.0)  # a 300 px region of a real photo
    sharp = crop_face(picture, box, PLAIN)
    limited_spec = PLAIN.model_copy(update={"max_native_side": 100})
    limited = crop_face(picture, box, limited_spec)
    assert _detail(limited) < 0.8 * _detail(sharp)
    # A dataset crop with a known native side, limited after the fact, looks the same.
    redone = limit_detail(sharp, native_side=300, max_side=100)
    assert np.abs(redone.astype(int) - limited.astype(int)).mean() < 2.0
    assert limit_detail(sharp, native_side=90, max_side=100) is sharp
    assert limit_detail(sharp, native_side=None, max_side=100) is sharp
    # The same through a dataset file (lossless, so that only the limit differs).
    Image.fromarray(sharp).save(tmp_path / "crop.png")
    from_file = read_dataset_crop(tmp_path / "crop.png", 300, limited_spec)
    assert np.array_equal(from_file, redone)


def test_crops_end_with_the_spec_jpeg_encode(fixtures: Path, tmp_path: Path) -> None:
    picture = _photo(fixtures)
    box = (45.0, 90.0, 345.0, 390.0)
    plain = crop_face(picture, box, PLAIN)
    encoded_spec = PLAIN.model_copy(update={"jpeg_quality": 75})
    encoded = crop_face(picture, box, encoded_spec)
    assert np.array_equal(encoded, jpeg(plain, 75))
    assert 0 < np.abs(encoded.astype(int) - plain.astype(int)).mean() < 5
    # A dataset crop ends with the same encode, unless its reader asks for it later.
    Image.fromarray(plain).save(tmp_path / "crop.png")
    assert np.array_equal(read_dataset_crop(tmp_path / "crop.png", None, encoded_spec), encoded)
    unencoded = read_dataset_crop(tmp_path / "crop.png", None, encoded_spec, encode=False)
    assert np.array_equal(unencoded, plain)


def test_a_release_changes_the_geometry_never_the_normalisation() -> None:
    architecture = get_spec("srm_efficientnet_lite0").crop
    geometry = CropGeometry(margin=-0.15, offset_y=0.1, max_native_side=160, jpeg_quality=75)
    release = architecture.with_geometry(geometry)
    assert release.normalisation() == architecture.normalisation() == (224, (0.5,) * 3, (0.5,) * 3)
    assert (release.margin, release.offset_y, release.max_native_side, release.jpeg_quality) == (
        -0.15,
        0.1,
        160,
        75,
    )


def test_normalize_crops_applies_the_spec_and_checks_the_size() -> None:
    crops = np.full((2, CROP, CROP, 3), 255, dtype=np.uint8)
    batch = normalize_crops(crops, PLAIN)
    assert batch.shape == (2, 3, CROP, CROP) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, 1.0)  # (1.0 - 0.5) / 0.5
    with pytest.raises(ValueError, match="crops must be"):
        normalize_crops(crops[:, :100, :100], PLAIN)
