"""GET /v1/model: the card of the shipped model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deepfake_stream.pipeline import Analyzer
from support.api_client import (
    SHA256,
)


def test_model_card_of_the_shipped_model(client: TestClient, analyzer: Analyzer) -> None:
    response = client.get("/v1/model")
    assert response.status_code == 200
    card = response.json()
    assert card["untrained"] is False
    assert card["weights_name"] == "srm-lite0-wild"
    assert SHA256.fullmatch(card["weights_sha256"])
    assert card["weights_sha256"] == analyzer.model.weights_sha256
    manifest = card["manifest"]
    assert manifest["sha256"] == card["weights_sha256"]
    assert card["architecture"] == manifest["architecture"] == "srm_efficientnet_lite0"
    assert card["crop"]["size"] == manifest["crop"]["size"] == 224
    assert card["devices"] == ["cpu"]
    # The crop and thresholds in force are the manifest's.
    assert card["crop"] == manifest["crop"]
    assert card["crop"]["margin"] == -0.15 and card["crop"]["jpeg_quality"] == 75
    assert card["real_below"] == manifest["thresholds"]["real_below"]
    assert card["fake_at_or_above"] == manifest["thresholds"]["fake_at_or_above"]
    assert card["photo_fake_at_or_above"] == (
        manifest["thresholds"].get("photo_fake_at_or_above") or card["fake_at_or_above"]
    )
    assert card["temperature"] == manifest["temperature"]
    assert "research" in manifest["training_data"]  # DFDC's terms travel with the weights
