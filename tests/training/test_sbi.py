from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import FaceSettings
from deepfake_stream.detection.crop import square_crop_box
from deepfake_stream.detection.faces import FaceDetector
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture
from deepfake_stream.training.sbi import SBIOptions, self_blend

CROP = 224
FULL = SBIOptions(blend_ratios=(1.0,))  # always blend at full strength
SEEDS = range(8)


@pytest.fixture(scope="module")
def face(fixtures: Path) -> tuple[np.ndarray, np.ndarray]:
    """The real face crop of tests/fixtures/photo.jpg and its 5 landmarks in crop pixels."""
    rgb = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB"))
    crop_spec = get_spec("srm_efficientnet_lite0").crop
    detector = FaceDetector(FaceSettings(), crop_spec)
    found = detector.detect([ImagePicture(rgb)], short_side=720)[0][0]
    x1, y1, x2, y2 = square_crop_box(found.box, crop_spec.margin, crop_spec.offset_y)
    landmarks = np.array(
        [((x - x1) / (x2 - x1) * CROP, (y - y1) / (y2 - y1) * CROP) for x, y in found.landmarks]
    )
    crop = found.crop
    crop.setflags(write=False)  # any in-place change by the code under test fails loudly
    return crop, landmarks


def test_blend_keeps_shape_and_types(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    before = crop.copy()
    out, mask = self_blend(crop, landmarks, np.random.default_rng(0), SBIOptions())
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert mask.shape == crop.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    np.testing.assert_array_equal(crop, before)


def test_output_changes_inside_the_mask_and_not_outside(
    face: tuple[np.ndarray, np.ndarray],
) -> None:
    crop, landmarks = face
    for seed in SEEDS:
        out, mask = self_blend(crop, landmarks, np.random.default_rng(seed), FULL)
        diff = np.abs(out.astype(int) - crop).max(axis=2)
        assert diff[mask < 1 / 255].max() <= 1
        np.testing.assert_array_equal(out[mask == 0], crop[mask == 0])
        assert diff[mask > 0.5].mean() > 3.0


def test_mask_is_soft_and_covers_the_face_not_the_frame(
    face: tuple[np.ndarray, np.ndarray],
) -> None:
    crop, landmarks = face
    for seed in SEEDS:
        _, mask = self_blend(crop, landmarks, np.random.default_rng(seed), FULL)
        edge = (mask > 0.05) & (mask < 0.95)
        assert edge.sum() > 500  # a wide soft boundary, not a cut-out
        for x, y in landmarks:  # eyes, nose, mouth corners
            assert mask[round(y), round(x)] > 0.5
        for corner in (mask[:20, :20], mask[:20, -20:], mask[-20:, :20], mask[-20:, -20:]):
            assert corner.max() == 0.0
        inside = mask > 0.5
        assert 0.1 < inside.mean() < 0.6  # the face region, not the whole crop
        rows, cols = np.nonzero(inside)
        box_area = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        assert inside.sum() < 0.93 * box_area  # rounded, tapering: not a rectangle


def test_mask_follows_the_landmarks(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    shifted = landmarks + np.array([-30.0, 20.0])
    for points in (landmarks, shifted):
        _, mask = self_blend(crop, points, np.random.default_rng(0), FULL)
        weights = mask / mask.sum()
        ys, xs = np.mgrid[: mask.shape[0], : mask.shape[1]]
        centroid = np.array([(xs * weights).sum(), (ys * weights).sum()])
        face_centre = (points[[0, 1]].mean(axis=0) + points[[3, 4]].mean(axis=0)) / 2
        assert np.hypot(*(centroid - face_centre)) < 0.1 * CROP


def test_mask_peak_is_one_of_the_blend_ratios(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    ratios = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
    peaks = set()
    for seed in range(24):
        out, mask = self_blend(crop, landmarks, np.random.default_rng(seed), SBIOptions())
        peak = float(mask.max())
        assert min(abs(peak - r) for r in ratios) < 1e-3
        peaks.add(round(peak, 2))
    assert len(peaks) >= 3


def test_blend_is_deterministic_for_a_seed(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    out_a, mask_a = self_blend(crop, landmarks, np.random.default_rng(5), SBIOptions())
    out_b, mask_b = self_blend(crop, landmarks, np.random.default_rng(5), SBIOptions())
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(mask_a, mask_b)
    out_c, mask_c = self_blend(crop, landmarks, np.random.default_rng(6), SBIOptions())
    assert not np.array_equal(out_a, out_c) and not np.array_equal(mask_a, mask_c)


def test_source_transforms_can_be_switched_off(face: tuple[np.ndarray, np.ndarray]) -> None:
    """With no colour, frequency or geometric change the blend is the crop itself, so every
    difference in the default output comes from the transformed source."""
    crop, landmarks = face
    still = replace(
        FULL,
        brightness=0.0,
        contrast=0.0,
        saturation=0.0,
        hue_degrees=0.0,
        channel_shift=0.0,
        sharpen_p=1.0,
        sharpen_percent=(0, 0),
        max_scale_change=0.0,
        max_shift=0.0,
    )
    out, mask = self_blend(crop, landmarks, np.random.default_rng(0), still)
    assert mask.max() == 1.0
    assert np.abs(out.astype(int) - crop).max() <= 1


def test_bad_inputs_are_rejected(face: tuple[np.ndarray, np.ndarray]) -> None:
    crop, landmarks = face
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="landmarks"):
        self_blend(crop, landmarks[:4], rng, SBIOptions())
    with pytest.raises(ValueError, match="uint8"):
        self_blend(crop.astype(np.float32), landmarks, rng, SBIOptions())
    with pytest.raises(ValueError, match="degenerate"):
        self_blend(crop, np.full((5, 2), 100.0), rng, SBIOptions())
    with pytest.raises(ValueError, match="blend_ratios"):
        SBIOptions(blend_ratios=(0.0, 1.0))
