"""Shared fixtures: small real media (tests/fixtures, see its README) and one loaded Analyzer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfake_stream.config import Settings, load_settings
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
