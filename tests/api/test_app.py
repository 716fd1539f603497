"""The app as a whole: unknown paths and methods, the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.api_client import (
    error_message,
)


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    error_message(client.get("/v1/nothing-here"), 404, "not_found")
    error_message(client.get("/v1/analyze"), 405, "method_not_allowed")


def test_openapi_describes_the_upload_and_its_errors(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operation = document["paths"]["/v1/analyze"]["post"]
    assert operation["requestBody"]["required"] is True
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert schema["properties"]["file"]["type"] == "string"
    assert schema["properties"]["file"]["format"] == "binary"
    assert {parameter["name"] for parameter in operation["parameters"]} == {
        "segments",
        "frames_per_segment",
    }
    responses = operation["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AnalysisResult"
    )
    for status in ("400", "413", "415", "422", "503"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorBody"
    error_schema = document["components"]["schemas"]["ErrorBody"]
    assert error_schema["required"] == ["error"]
    assert "/healthz" in document["paths"] and "/readyz" in document["paths"]
    assert "get" in document["paths"]["/v1/model"]
