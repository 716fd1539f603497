"""Shared fixtures: small real media (tests/fixtures, see its README) and one loaded Analyzer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from deepfake_stream.config import Settings, load_settings
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The default config, with its ONNX cache in a temp dir."""
    base = load_settings(REPO / "configs" / "default.yaml")
    cache = tmp_path_factory.mktemp("onnx-cache")
    return base.model_copy(
        update={"model": base.model.model_copy(update={"onnx_cache_dir": cache})}
    )


@pytest.fixture(scope="session")
def analyzer(settings: Settings) -> Iterator[Analyzer]:
    loaded = Analyzer(settings)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory: pytest.TempPathFactory, analyzer: Analyzer) -> Path:
    """Eight real 224x224 face crops from the fixtures, half labelled fake, in 4 groups."""
    root = tmp_path_factory.mktemp("faces")
    crops = []
    for name in ("photo.jpg", "photo_exif_rot6.jpg", "group.jpg"):
        media = load_media(
            FIXTURES / name,
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
