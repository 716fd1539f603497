"""GET /healthz and /readyz: alive at once, ready once the model loaded, and why not."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from deepfake_stream.api import build_app
from deepfake_stream.config import Settings
from support.api_client import (
    assert_no_server_path,
    error_message,
    post_fixture,
    wait_until_settled,
)


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_once_loaded(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_not_ready_when_the_model_cannot_load(
    settings: Settings, fixtures: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing-weights.json"
    broken = settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": missing})}
    )
    with TestClient(build_app(broken)) as test_client:
        assert test_client.get("/healthz").status_code == 200
        message = error_message(wait_until_settled(test_client), 503, "not_ready")
        assert "failed to load: weights_error" in message
        assert "missing-weights.json" not in message  # the path is for the service log
        assert_no_server_path(message, tmp_path)
        analyzed = post_fixture(test_client, fixtures / "noface.jpg")
        assert error_message(analyzed, 503, "not_ready") == message
        assert error_message(test_client.get("/v1/model"), 503, "not_ready") == message
        assert test_client.get("/healthz").json() == {"status": "ok"}
