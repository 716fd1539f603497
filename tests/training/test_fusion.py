from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from deepfake_stream.config import Settings
from deepfake_stream.detection.fusion import Branch, NoveltyModel, read_fusion_manifest
from deepfake_stream.errors import ConfigError, WeightsError
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.fusion import (
    FusionFitSettings,
    fit_fusion,
    fit_weights,
    load_fusion_fit_settings,
)
from deepfake_stream.training.recipe import TrainSettings
from deepfake_stream.training.train import train


def test_fit_weights_favours_the_informative_branch() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    informative = (labels * 2 - 1) * 2.0 + rng.normal(0, 1, 400)
    noise = rng.normal(0, 1, 400)
    weights, temperature = fit_weights({Branch.FACE: informative, Branch.FREQUENCY: noise}, labels)
    assert weights[Branch.FACE] > 0.8 and sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert temperature > 0
    assert fit_weights({Branch.FACE: informative}, labels) == ({Branch.FACE: 1.0}, 1.0)


@pytest.fixture(scope="module")
def releases(face_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A face and a frequency release trained on the tiny folder, and their fusion."""
    root = tmp_path_factory.mktemp("fusion")
    config = {
        "data": [{"path": str(face_folder), "family": "fake"}],
        "output": str(root),
        "epochs": 1,
        "batch_size": 4,
        "validation_fraction": 0.5,
        "seed": 3,
        "draw_shares": {"real": 0.5, "fake": 0.3, "swap": 0.1, "resolution": 0.1},
        "workers": 0,
        "landmarks_cache": str(root / "landmarks.npz"),
    }
    (root / "face.yaml").write_text(yaml.safe_dump(config))
    train(
        TrainSettings.model_validate(
            {**config, "name": "face", "checkpoint": str(root / "face.pt")}
        ),
        command="test",
    )
    train(
        TrainSettings.model_validate(
            {
                **config,
                "name": "frequency",
                "architecture": "dct_cnn",
                "frozen_stages": 0,
                "render_once": True,
                "checkpoint": str(root / "frequency.pt"),
            }
        ),
        command="test",
    )
    fit_fusion(
        FusionFitSettings(
            name="fusion",
            output=root,
            validation_of=root / "face.yaml",
            branches={Branch.FACE: root / "face.json", Branch.FREQUENCY: root / "frequency.json"},
        ),
        command="test",
    )
    return root


def test_the_fusion_manifest_records_weights_thresholds_and_family_metrics(
    releases: Path,
) -> None:
    fusion = read_fusion_manifest(releases / "fusion.json")
    assert set(fusion.weights) == {Branch.FACE, Branch.FREQUENCY}
    assert sum(fusion.weights.values()) == pytest.approx(1.0, abs=1e-5)
    assert fusion.branch_manifests == {Branch.FREQUENCY: "frequency.json"}
    assert fusion.thresholds.real_below <= fusion.thresholds.fake_at_or_above
    assert set(fusion.metrics) == {"fusion", "face", "frequency"}
    for report in fusion.metrics.values():
        assert {"all", "fake"} <= set(report)
    assert fusion.fitting_command == "test"
    assert fusion.novelty is not None and fusion.novelty.percentile == 99.0
    assert (releases / fusion.novelty.file).is_file() and fusion.novelty.threshold > 0


@pytest.fixture(scope="module")
def fused_analyzer(releases: Path, settings: Settings) -> Iterator[Analyzer]:
    fused = settings.model_copy(
        update={
            "model": settings.model.model_copy(update={"weights": releases / "face.json"}),
            "fusion": settings.fusion.model_copy(
                update={"manifest": releases / "fusion.json", "branches": ["face", "frequency"]}
            ),
        }
    )
    analyzer = Analyzer(fused)
    yield analyzer
    analyzer.close()


def test_every_branch_is_reported_per_face_person_and_file(
    fused_analyzer: Analyzer, fixtures: Path
) -> None:
    result = fused_analyzer.analyze(fixtures / "two_people_2s.mp4")
    assert result.model.branches == ["face", "frequency"]
    assert result.model.fusion == "fusion"
    assert [b.branch for b in result.model.branch_weights] == ["frequency"]
    assert set(result.branches) == {"face", "frequency"}
    assert all(0.0 <= p <= 1.0 for p in result.branches.values() if p is not None)
    faces = [face for segment in result.segments for face in segment.faces]
    assert faces and all(set(face.branches) == {"face", "frequency"} for face in faces)
    assert all(set(person.branches) == {"face", "frequency"} for person in result.people)
    assert result.settings.branches == ["face", "frequency"]
    assert result.novelty is not None and result.novelty > 0


def test_a_tampered_novelty_reference_is_refused(releases: Path, tmp_path: Path) -> None:
    fusion = read_fusion_manifest(releases / "fusion.json")
    assert fusion.novelty is not None
    model = NoveltyModel.load(releases / fusion.novelty.file, fusion.novelty.sha256)
    assert model.distances(model.mean[None]) == pytest.approx([0.0])
    tampered = tmp_path / "novelty.safetensors"
    NoveltyModel(model.mean + 1, model.precision).save(tampered)
    with pytest.raises(WeightsError, match="does not match its sha256"):
        NoveltyModel.load(tampered, fusion.novelty.sha256)


def test_the_fused_probability_lies_between_the_branches(
    fused_analyzer: Analyzer, fixtures: Path
) -> None:
    fusion = fused_analyzer.fusion
    assert fusion is not None
    result = fused_analyzer.analyze(fixtures / "photo.jpg")
    face = result.segments[0].faces[0]
    low, high = min(face.branches.values()), max(face.branches.values())
    if fusion.temperature == pytest.approx(1.0, abs=0.05):
        assert low - 1e-3 <= face.probability <= high + 1e-3
    assert result.probability is not None


def test_a_fusion_fitted_for_other_face_weights_is_refused(
    releases: Path, settings: Settings
) -> None:
    mismatched = settings.model_copy(
        update={
            "fusion": settings.fusion.model_copy(
                update={"manifest": releases / "fusion.json", "branches": ["face", "frequency"]}
            )
        }
    )  # the shipped face weights with the test's fusion
    with pytest.raises(ConfigError, match="fitted for face weights"):
        Analyzer(mismatched)


def test_other_branches_without_a_fusion_manifest_are_a_config_error(settings: Settings) -> None:
    alone = settings.model_copy(
        update={
            "fusion": settings.fusion.model_copy(
                update={"manifest": None, "branches": ["face", "frequency"]}
            )
        }
    )
    with pytest.raises(ConfigError, match="need fusion.manifest"):
        Analyzer(alone)


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("fusion*.yaml")),
    ids=lambda p: p.name,
)
def test_every_fusion_config_loads(path: Path) -> None:
    settings = load_fusion_fit_settings(path)
    assert Branch.FACE in settings.branches and settings.validation_of.is_file()
    assert not any(p.is_absolute() for p in settings.branches.values())
