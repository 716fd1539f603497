from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import FaceSettings
from deepfake_stream.detection.faces import FaceDetector
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture
from deepfake_stream.training.augment import (
    AugmentOptions,
    augment,
    gaussian_blur,
    gaussian_noise,
    jitter_colour,
    jpeg,
    rescale,
)

CROP = 224
ALL_ON = AugmentOptions(
    flip_p=1.0, colour_p=1.0, cutout_p=1.0, blur_p=1.0, noise_p=1.0, rescale_p=1.0, jpeg_p=1.0
)


@pytest.fixture(scope="module")
def crop(fixtures: Path) -> np.ndarray:
    """The real face crop of tests/fixtures/photo.jpg, as the detector cuts it."""
    rgb = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB"))
    detector = FaceDetector(FaceSettings(), get_spec("srm_efficientnet_lite0").crop)
    face = detector.detect([ImagePicture(rgb)], short_side=720)[0][0]
    crop = face.crop
    crop.setflags(write=False)  # any in-place change by the code under test fails loudly
    return crop


def _only(**overrides: Any) -> AugmentOptions:
    """Options with every transform off except those given."""
    off: dict[str, Any] = {f.name: 0.0 for f in fields(AugmentOptions) if f.name.endswith("_p")}
    return replace(AugmentOptions(), **{**off, **overrides})


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / mse) if mse > 0 else float("inf")


def _sharpness(image: np.ndarray) -> float:
    """Mean absolute horizontal gradient of the grey image."""
    grey = image.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


@pytest.mark.parametrize("options", [AugmentOptions(), ALL_ON], ids=["default", "all-on"])
def test_augment_keeps_shape_and_dtype_and_leaves_the_input_alone(
    crop: np.ndarray, options: AugmentOptions
) -> None:
    before = crop.copy()
    for seed in range(20):
        out = augment(crop, np.random.default_rng(seed), options)
        assert out.shape == crop.shape and out.dtype == np.uint8
        assert out.flags.writeable and out is not crop
    np.testing.assert_array_equal(crop, before)


def test_augment_is_deterministic_for_a_seed_and_differs_across_seeds(crop: np.ndarray) -> None:
    first = augment(crop, np.random.default_rng(7), ALL_ON)
    again = augment(crop, np.random.default_rng(7), ALL_ON)
    other = augment(crop, np.random.default_rng(8), ALL_ON)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 1.0
    defaults = [augment(crop, np.random.default_rng(s), AugmentOptions()) for s in range(8)]
    assert len({image.tobytes() for image in defaults}) > 1


def test_with_everything_off_augment_returns_the_crop(crop: np.ndarray) -> None:
    np.testing.assert_array_equal(augment(crop, np.random.default_rng(0), _only()), crop)


def test_jpeg_quality_40_degrades_the_crop_and_quality_100_barely_does(crop: np.ndarray) -> None:
    low, mid, high = (_psnr(crop, jpeg(crop, quality)) for quality in (40, 80, 100))
    assert low < 38.0  # visible blocking and ringing
    assert high > 45.0  # near-lossless
    assert low < mid < high


def test_augment_draws_jpeg_quality_from_the_range(crop: np.ndarray) -> None:
    harsh = augment(crop, np.random.default_rng(0), _only(jpeg_p=1.0, jpeg_quality=(40, 40)))
    np.testing.assert_array_equal(harsh, jpeg(crop, 40))


def test_flip_mirrors_the_crop(crop: np.ndarray) -> None:
    flipped = augment(crop, np.random.default_rng(0), _only(flip_p=1.0))
    np.testing.assert_array_equal(flipped, crop[:, ::-1])
    twice = augment(flipped, np.random.default_rng(1), _only(flip_p=1.0))
    np.testing.assert_array_equal(twice, crop)


def test_cutout_fills_one_rectangle_with_one_colour(crop: np.ndarray) -> None:
    options = _only(cutout_p=1.0, cutout_noise_p=0.0, cutout_side=(0.2, 0.3))
    for seed in range(5):
        out = augment(crop, np.random.default_rng(seed), options)
        changed = np.any(out != crop, axis=2)
        rows, cols = np.nonzero(changed)
        y1, y2, x1, x2 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        box = out[y1:y2, x1:x2].reshape(-1, 3)
        assert np.all(box == box[0])  # one constant colour over the whole rectangle
        assert 0.2 * CROP - 2 <= x2 - x1 <= 0.3 * CROP + 1
        assert 0.2 * CROP - 2 <= y2 - y1 <= 0.3 * CROP + 1
        outside = np.ones_like(changed)
        outside[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(out[outside], crop[outside])


def test_cutout_with_noise_replaces_a_region_with_noise(crop: np.ndarray) -> None:
    options = _only(cutout_p=1.0, cutout_noise_p=1.0, cutout_side=(0.3, 0.3))
    out = augment(crop, np.random.default_rng(3), options)
    changed = np.any(out != crop, axis=2)
    side = round(0.3 * CROP)
    assert 0.9 * side**2 <= changed.sum() <= side**2
    rows, cols = np.nonzero(changed)
    patch = out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float64)
    assert patch.std() > 60  # uniform noise over 0..255 (std 74), not a face
    assert _sharpness(patch) > 3 * _sharpness(crop)


def test_rescale_loses_more_detail_at_smaller_factors(crop: np.ndarray) -> None:
    bilinear = Image.Resampling.BILINEAR
    coarse = rescale(crop, 0.3, bilinear, bilinear)
    fine = rescale(crop, 0.9, bilinear, bilinear)
    assert coarse.shape == crop.shape
    assert _psnr(crop, coarse) < _psnr(crop, fine) - 5.0
    assert _sharpness(coarse) < 0.8 * _sharpness(crop)


def test_blur_softens_and_noise_adds_the_asked_for_spread(crop: np.ndarray) -> None:
    assert _sharpness(gaussian_blur(crop, 1.5)) < 0.7 * _sharpness(crop)
    noisy = gaussian_noise(crop, 8.0, np.random.default_rng(0))
    residual = noisy.astype(np.float64) - crop
    unclipped = (crop > 30) & (crop < 225)
    assert residual[unclipped].std() == pytest.approx(8.0, rel=0.05)
    assert abs(residual[unclipped].mean()) < 0.2


def test_colour_jitter_changes_what_it_is_asked_to(crop: np.ndarray) -> None:
    same = jitter_colour(crop, brightness=1.0, contrast=1.0, saturation=1.0, hue_degrees=0.0)
    assert np.abs(same.astype(int) - crop).max() <= 1
    brighter = jitter_colour(crop, brightness=1.2, contrast=1.0, saturation=1.0, hue_degrees=0.0)
    assert brighter.mean() > crop.mean() * 1.1
    grey = jitter_colour(crop, brightness=1.0, contrast=1.0, saturation=0.0, hue_degrees=0.0)
    assert np.ptp(grey.astype(int), axis=2).max() <= 1
    flat = jitter_colour(crop, brightness=1.0, contrast=0.5, saturation=1.0, hue_degrees=0.0)
    assert flat.std() < 0.6 * crop.std()
    assert abs(flat.mean() - crop.mean()) < 3.0  # contrast pivots around the mean
    turned = jitter_colour(crop, brightness=1.0, contrast=1.0, saturation=1.0, hue_degrees=20.0)
    luma = np.array([0.299, 0.587, 0.114])
    assert np.abs(turned @ luma - crop @ luma).mean() < 2.0  # hue keeps brightness...
    assert np.abs(turned.astype(int) - crop).mean() > 2.0  # ...and changes colour


def test_options_reject_bad_probabilities_and_ranges() -> None:
    with pytest.raises(ValueError, match="jpeg_p"):
        AugmentOptions(jpeg_p=1.5)
    with pytest.raises(ValueError, match="noise_sigma"):
        AugmentOptions(noise_sigma=(5.0, 1.0))


def test_augment_rejects_non_rgb_uint8(crop: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        augment(crop.astype(np.float32), np.random.default_rng(0), AugmentOptions())
    with pytest.raises(ValueError, match="uint8"):
        augment(crop[..., 0], np.random.default_rng(0), AugmentOptions())


def test_black_edges_black_one_or_two_sides_and_leave_the_face(crop: np.ndarray) -> None:
    sides_seen = set()
    for seed in range(20):
        out = augment(crop, np.random.default_rng(seed), _only(frame_edge_p=1.0))
        black = {
            "top": not out[:6].any(),
            "bottom": not out[-6:].any(),
            "left": not out[:, :6].any(),
            "right": not out[:, -6:].any(),
        }
        blacked = {side for side, is_black in black.items() if is_black}
        assert 1 <= len(blacked) <= 2
        sides_seen |= blacked
        centre = slice(CROP // 2 - 20, CROP // 2 + 20)
        np.testing.assert_array_equal(out[centre, centre], crop[centre, centre])
    assert sides_seen == {"top", "bottom", "left", "right"}
