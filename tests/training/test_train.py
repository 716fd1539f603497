from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepfake_stream.detection.registry import get_spec
from deepfake_stream.detection.weights import load_trained_detector
from deepfake_stream.training.data import read_face_folder, split_by_group
from deepfake_stream.training.dataset import crop_landmarks
from deepfake_stream.training.train import train, warmup_cosine
from support.training import tiny_train_settings

SHARES = {"real": 0.5, "fake": 0.2, "sbi": 0.1, "swap": 0.1, "resolution": 0.05, "mouth": 0.05}


def test_a_tiny_run_writes_a_release_the_service_loads_and_resumes(
    face_folder: Path, tmp_path: Path
) -> None:
    settings = tiny_train_settings(face_folder, tmp_path, SHARES)
    crop = get_spec(settings.architecture).crop.with_geometry(settings.crop)
    landmarks = crop_landmarks(read_face_folder(face_folder), crop, settings.landmarks_cache)
    assert len(landmarks) >= 3 and all(p.shape == (5, 2) for p in landmarks.values())
    assert settings.landmarks_cache.is_file()
    manifest_path = train(settings, command="test")
    detector, manifest = load_trained_detector(manifest_path)
    assert manifest.training_command == "test"
    assert manifest.trained_on.startswith("cpu (") and torch.__version__ in manifest.trained_on
    # The manifest carries the recipe's crop on the architecture's input and normalisation.
    assert manifest.crop == crop
    assert (crop.margin, crop.offset_y, crop.max_native_side, crop.jpeg_quality) == (
        -0.15,
        0.10,
        160,
        75,
    )
    assert manifest.temperature > 0
    assert manifest.thresholds.real_below <= manifest.thresholds.fake_at_or_above
    assert {"n", "auc", "log_loss", "accuracy", "eer"} <= set(manifest.metrics)
    _, validation = split_by_group(read_face_folder(face_folder), 0.5, seed=3)
    # Validation: every held-out record, plus each synthesised family made from its reals.
    reals = sum(1 for r in validation if r.label == 0 and r.path in landmarks)
    assert reals > 0
    assert manifest.metrics["n"] == len(validation) + 4 * reals
    assert set(manifest.family_metrics) == {"fake", "sbi", "swap", "resolution", "mouth"}
    assert all(0.0 <= m["auc"] <= 1.0 for m in manifest.family_metrics.values())
    assert manifest.draw_shares == SHARES
    first = torch.load(settings.checkpoint, weights_only=True)
    assert first["epoch"] == 1
    # A second run with more epochs resumes after the first rather than starting over.
    train(settings.model_copy(update={"epochs": 2}), command="test")
    assert torch.load(settings.checkpoint, weights_only=True)["epoch"] == 2
    assert detector.crop.size == manifest.crop.size


def test_warmup_then_cosine() -> None:
    factor = warmup_cosine(total_steps=100, warmup_steps=10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5, abs=0.01)
    assert factor(99) < 0.01
