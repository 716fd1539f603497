from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_stream.data import read_face_folder, split_by_group
from deepfake_stream.model import get_spec
from deepfake_stream.train import (
    TrainSettings,
    crop_landmarks,
    jitter_geometry,
    train,
    warmup_cosine,
)
from deepfake_stream.weights import load_trained_detector


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory: pytest.TempPathFactory, analyzer: object) -> Path:
    """Eight real 224x224 face crops from the fixtures, half labelled fake, in 4 groups."""
    from PIL import Image

    from deepfake_stream.media import load_media
    from deepfake_stream.pipeline import Analyzer

    assert isinstance(analyzer, Analyzer)
    root = tmp_path_factory.mktemp("faces")
    crops = []
    for name in ("photo.jpg", "photo_exif_rot6.jpg", "group.jpg"):
        media = load_media(
            Path(__file__).parent / "fixtures" / name,
            analyzer.settings.limits,
            analyzer.settings.sampling,
        )
        (faces,) = analyzer.faces.detect([media.frames[0].picture], short_side=720)
        crops.extend(face.crop for face in faces)
    lines = ["file,label,group"]
    for index, crop in enumerate(crops[:8]):
        label = "REAL" if index % 2 == 0 else "FAKE"
        file = f"{label.lower()}/{index}.jpg"
        (root / file).parent.mkdir(exist_ok=True)
        Image.fromarray(crop).save(root / file)
        lines.append(f"{file},{label},g{index // 2}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def test_a_tiny_run_writes_a_release_the_service_loads_and_resumes(
    face_folder: Path, tmp_path: Path
) -> None:
    settings = TrainSettings(
        data=face_folder,
        output=tmp_path / "weights",
        name="tiny",
        epochs=1,
        batch_size=4,
        validation_fraction=0.5,
        seed=3,
        sbi_fraction=0.5,
        workers=0,
        checkpoint=tmp_path / "checkpoint.pt",
    )
    size = get_spec(settings.architecture).preprocessing.input_size
    landmarks = crop_landmarks(read_face_folder(face_folder), size, tmp_path / "lm.npz")
    assert len(landmarks) >= 3 and all(p.shape == (5, 2) for p in landmarks.values())
    assert (tmp_path / "lm.npz").is_file()
    manifest_path = train(settings, command="test")
    detector, manifest = load_trained_detector(manifest_path)
    assert manifest.training_command == "test"
    assert (manifest.crop_margin, manifest.crop_offset_y) == (-0.15, 0.10)
    assert manifest.temperature > 0
    assert manifest.thresholds.real_below <= manifest.thresholds.fake_at_or_above
    assert {"n", "auc", "log_loss", "accuracy", "eer"} <= set(manifest.metrics)
    _, validation = split_by_group(read_face_folder(face_folder), 0.5, seed=3)
    assert manifest.metrics["n"] == len(validation) > 0
    first = torch.load(settings.checkpoint, weights_only=True)
    assert first["epoch"] == 1
    # A second run with more epochs resumes after the first rather than starting over.
    train(settings.model_copy(update={"epochs": 2}), command="test")
    assert torch.load(settings.checkpoint, weights_only=True)["epoch"] == 2
    assert detector.preprocessing.input_size == size


def test_warmup_then_cosine() -> None:
    factor = warmup_cosine(total_steps=100, warmup_steps=10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5, abs=0.01)
    assert factor(99) < 0.01


def test_geometry_jitter_keeps_size_and_varies() -> None:
    crop = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    a = jitter_geometry(crop, np.random.default_rng(1), 0.1)
    b = jitter_geometry(crop, np.random.default_rng(2), 0.1)
    assert a.shape == crop.shape and not np.array_equal(a, b)
    assert np.array_equal(jitter_geometry(crop, np.random.default_rng(1), 0.0), crop)
