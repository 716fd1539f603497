from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepfake_stream.detection.crop import CropSpec
from deepfake_stream.detection.registry import create_detector
from deepfake_stream.detection.weights import (
    load_trained_detector,
    read_manifest,
    save_detector_weights,
)
from deepfake_stream.errors import WeightsError


def _write_release(tmp_path: Path, **overrides: object) -> Path:
    detector = create_detector("srm_efficientnet_lite0")
    with torch.no_grad():
        detector.head.fc.bias.fill_(1.5)  # distinguishable from the untrained head
    sha = save_detector_weights(detector, tmp_path / "detector.safetensors")
    manifest = {
        "name": "test-release",
        "architecture": "srm_efficientnet_lite0",
        "file": "detector.safetensors",
        "sha256": sha,
        "crop": {"size": 224, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "margin": 0.3},
        "temperature": 1.2,
        "thresholds": {"real_below": 0.4, "fake_at_or_above": 0.6},
        "training_data": "test artifact",
        "training_command": "n/a",
        "trained_on": "n/a",
        "metrics": {"auc": 0.5},
    }
    manifest.update(overrides)
    path = tmp_path / "test-release.json"
    path.write_text(json.dumps(manifest))
    return path


def test_weights_round_trip_through_the_manifest(tmp_path: Path) -> None:
    manifest_path = _write_release(tmp_path)
    detector, manifest = load_trained_detector(manifest_path)
    assert manifest.temperature == 1.2
    assert float(detector.head.fc.bias.detach()) == pytest.approx(1.5)


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    manifest_path = _write_release(tmp_path)
    weights = tmp_path / "detector.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_trained_detector(manifest_path)


def test_a_manifest_for_another_input_or_normalisation_is_refused(tmp_path: Path) -> None:
    other_size = {"size": 256, "mean": [0.5] * 3, "std": [0.5] * 3, "margin": 0.3}
    with pytest.raises(WeightsError, match="does not match architecture"):
        load_trained_detector(_write_release(tmp_path, crop=other_size))
    other_mean = {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.5] * 3, "margin": 0.3}
    with pytest.raises(WeightsError, match="does not match architecture"):
        load_trained_detector(_write_release(tmp_path, crop=other_mean))


def test_a_manifest_of_earlier_releases_reads_its_flat_crop_fields(tmp_path: Path) -> None:
    legacy = {
        "input_size": 224,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "crop_margin": -0.15,
        "crop_offset_y": 0.1,
        "max_native_side": 160,
        "crop_jpeg_quality": 75,
    }
    path = _write_release(tmp_path, **legacy)
    data = json.loads(path.read_text())
    del data["crop"]
    path.write_text(json.dumps(data))
    _, manifest = load_trained_detector(path)
    assert manifest.crop == CropSpec(
        size=224,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        margin=-0.15,
        offset_y=0.1,
        max_native_side=160,
        jpeg_quality=75,
    )


def test_missing_or_invalid_manifests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        read_manifest(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(WeightsError, match="invalid"):
        read_manifest(bad)


@pytest.mark.parametrize("faces", [1, 2, 3, 6, 10])
def test_a_real_group_photo_is_called_fake_no_more_often_than_a_real_portrait(faces: int) -> None:
    """Any face at or above the cut makes a photo fake: the cut for k faces keeps real photos
    of k faces (drawn from the calibration's reals) within the rule, not k times over it."""
    import numpy as np

    from deepfake_stream.detection.weights import FakeCalibration
    from deepfake_stream.training.calibrate import real_tail
    from deepfake_stream.training.metrics import fake_cut

    rng = np.random.default_rng(faces)
    reals = rng.beta(2, 5, size=3000)  # held-out real faces' probabilities
    rule = 0.02
    single = fake_cut(reals, rule)
    record = FakeCalibration(
        validation_fake_at_or_above=0.5,
        fake_at_or_above=single,
        max_false_fake_rate=rule,
        data=["reals"],
        reals=reals.size,
        reals_at_or_above={"reals": float(np.mean(reals >= single))},
        fakes_at_or_above=0.0,
        real_tail=real_tail(reals, rule),
        command="test",
    )
    cut = record.fake_at_or_above_for(faces)
    assert cut >= single and (faces > 1) == (cut > single)
    photos = rng.choice(reals, size=(20_000, faces))  # real photos of `faces` faces
    called_fake = float(np.mean(photos.max(axis=1) >= cut))
    assert called_fake <= rule + 0.005  # sampling noise of 20,000 photos
    if faces > 1:  # the single-face cut would have called many more of them fake
        assert float(np.mean(photos.max(axis=1) >= single)) > 1.5 * rule
    # Without the tail (a manifest calibrated before it was kept) the single-face cut stays.
    assert record.model_copy(update={"real_tail": []}).fake_at_or_above_for(faces) == single
