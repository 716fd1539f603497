from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import FaceSettings
from deepfake_stream.detection.faces import FaceDetector
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture
from deepfake_stream.training import synthesis
from deepfake_stream.training.recipe import DFDC_CROP
from deepfake_stream.training.synthesis import SynthesisOptions

OPTIONS = SynthesisOptions()


def _face(fixtures: Path, name: str, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A real face crop from a fixture photo and its five landmarks in crop pixels."""
    crop_spec = get_spec("srm_efficientnet_lite0").crop.with_geometry(DFDC_CROP)
    image = np.asarray(Image.open(fixtures / name).convert("RGB"))
    (faces,) = FaceDetector(FaceSettings(), crop_spec).detect([ImagePicture(image)], 720)
    crop = faces[index].crop
    (found,) = FaceDetector(FaceSettings(min_confidence=0.5), crop_spec).detect(
        [ImagePicture(crop)], 224
    )
    return crop, np.asarray(max(found, key=lambda f: f.confidence).landmarks, np.float64)


@pytest.fixture(scope="module")
def faces(fixtures: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return [_face(fixtures, "photo.jpg"), _face(fixtures, "photo_exif_rot6.jpg")]


def _high_frequency_energy(image: np.ndarray, mask: np.ndarray) -> float:
    grey = image.astype(np.float64).mean(axis=2)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1]
    laplacian -= grey[1:-1, :-2] + grey[1:-1, 2:]
    return float((laplacian**2)[mask[1:-1, 1:-1] > 0.9].mean())


@pytest.mark.parametrize("family", sorted(synthesis.SELF_FAMILIES))
def test_self_families_change_the_face_and_keep_the_rest(
    faces: list[tuple[np.ndarray, np.ndarray]], family: str
) -> None:
    crop, points = faces[0]
    fake, mask = synthesis.SELF_FAMILIES[family](crop, points, np.random.default_rng(0), OPTIONS)
    assert fake.shape == crop.shape and fake.dtype == np.uint8
    assert mask.shape == crop.shape[:2] and 0.0 <= mask.min() and mask.max() <= 1.0
    difference = np.abs(fake.astype(int) - crop.astype(int)).sum(axis=2)
    assert difference[mask > 0.5].mean() > 1.0  # the masked face changed...
    assert difference[mask == 0].max() <= 1  # ...and nothing outside the mask did
    again, _ = synthesis.SELF_FAMILIES[family](crop, points, np.random.default_rng(0), OPTIONS)
    assert np.array_equal(fake, again)  # the generator decides everything


def test_resolution_mismatch_removes_detail_inside_the_face(
    faces: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    crop, points = faces[0]
    options = SynthesisOptions(render_side=(56, 56), sharpen_p=0.0)
    fake, mask = synthesis.resolution(crop, points, np.random.default_rng(1), options)
    assert _high_frequency_energy(fake, mask) < 0.5 * _high_frequency_energy(crop, mask)


def test_mouth_family_touches_only_the_lower_face(
    faces: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    crop, points = faces[0]
    _, mask = synthesis.mouth(crop, points, np.random.default_rng(2), OPTIONS)
    eyes_y = int(points[:2, 1].mean())
    assert mask[: max(0, eyes_y - 5)].max() < 0.05
    mouth = points[3:].mean(axis=0).round().astype(int)
    assert mask[mouth[1], mouth[0]] > 0.7  # the mask's soft edge may reach the mouth


def test_swap_puts_the_donor_face_on_the_target_landmarks(
    faces: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    (target, points), (donor, donor_points) = faces
    options = SynthesisOptions(swap_low_res_p=0.0, landmark_jitter=0.0, colour_match=(0.0, 0.0))
    fake, mask = synthesis.swap(
        target, points, donor, donor_points, np.random.default_rng(3), options
    )
    warped = synthesis.thin_plate_warp(donor, donor_points, points)
    inside = mask > 0.99
    assert inside.sum() > 1000
    assert np.abs(fake[inside].astype(int) - warped[inside].astype(int)).mean() < 2.0
    assert np.array_equal(fake[mask == 0], target[mask == 0])


def test_thin_plate_warp_moves_landmarks_and_holds_the_border() -> None:
    image = np.zeros((96, 96, 3), np.uint8)
    image[40:44, 30:34] = 255  # a bright square at (31.5, 41.5)
    moved = synthesis.thin_plate_warp(
        image,
        np.array([[31.5, 41.5], [60.0, 60.0]]),
        np.array([[51.5, 41.5], [60.0, 60.0]]),
    )
    ys, xs = np.nonzero(moved[..., 0] > 128)
    assert abs(xs.mean() - 51.5) < 1.5 and abs(ys.mean() - 41.5) < 1.5
    assert moved[0].max() == 0 and moved[:, 0].max() == 0


def test_colour_transfer_matches_statistics_inside_the_mask() -> None:
    rng = np.random.default_rng(4)
    source = rng.integers(0, 100, (32, 32, 3)).astype(np.uint8)
    target = rng.integers(120, 250, (32, 32, 3)).astype(np.uint8)
    mask = np.ones((32, 32), np.float32)
    out = synthesis.colour_transfer(source, target, mask, 1.0).astype(float)
    assert np.allclose(out.mean(axis=(0, 1)), target.mean(axis=(0, 1)), atol=1.5)
    assert np.allclose(out.std(axis=(0, 1)), target.std(axis=(0, 1)), atol=1.5)
