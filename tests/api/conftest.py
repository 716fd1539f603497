"""The main app in-process: the session's analyzer, uploads in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deepfake_stream.api import build_app
from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.api_client import (
    with_server,
)


@pytest.fixture(scope="module")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Not there yet: only an upload makes it, so a test can tell that uploads land in it."""
    return tmp_path_factory.mktemp("uploads") / "incoming"


@pytest.fixture(scope="module")
def client(settings: Settings, analyzer: Analyzer, upload_dir: Path) -> Iterator[TestClient]:
    app = build_app(with_server(settings, upload_dir=upload_dir), analyzer=analyzer)
    with TestClient(app) as test_client:
        yield test_client
