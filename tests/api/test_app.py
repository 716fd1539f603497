"""The app as a whole: unknown paths and methods, HEAD, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.api_client import (
    error_message,
    raw_response,
)
from support.live import live_server
from support.settings import isolated

# Headers that differ between any two responses.
PER_RESPONSE_HEADERS = {"date", "x-request-id"}


@pytest.fixture(scope="module")
def server(
    settings: Settings, analyzer: Analyzer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    with live_server(isolated(settings, tmp_path_factory.mktemp("app")), analyzer) as client:
        yield client


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    error_message(client.get("/v1/nothing-here"), 404, "not_found")
    error_message(client.get("/v1/analyze"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/analyze", "POST"),
        ("PUT", "/healthz", "GET, HEAD"),
        ("PATCH", "/v1/jobs/no-such-job", "DELETE, GET"),  # two routes share the path
        ("GET", "/v1/jobs/no-such-job/cancel", "POST"),
        ("DELETE", "/v1/model", "GET, HEAD"),
        ("POST", "/docs", "GET, HEAD"),
        ("DELETE", "/openapi.json", "GET, HEAD"),
        ("POST", "/static/app.js", "GET, HEAD"),  # a mount: StaticFiles names its own
    ],
)
def test_a_wrong_method_gets_405_with_the_methods_of_the_path(
    server: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = server.request(method, path)
    error_message(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_head_on_a_post_only_path_gets_405_with_allow_and_no_body(server: httpx.Client) -> None:
    status, headers, body = raw_response(str(server.base_url), "HEAD", "/v1/analyze")
    assert (status, headers["allow"], body) == (405, "POST", b"")


@pytest.mark.parametrize(
    "path",
    ["/", "/healthz", "/readyz", "/v1/model", "/metrics", "/docs", "/redoc", "/openapi.json"],
)
def test_head_answers_as_get_does_without_the_body(server: httpx.Client, path: str) -> None:
    base_url = str(server.base_url)
    get_status, get_headers, get_body = raw_response(base_url, "GET", path)
    status, headers, body = raw_response(base_url, "HEAD", path)
    assert get_status == status == 200
    assert get_body and body == b""
    # /metrics grows between two requests: its own latency was observed in between.
    varying = PER_RESPONSE_HEADERS | ({"content-length"} if path == "/metrics" else set())
    assert {k: v for k, v in headers.items() if k not in varying} == {
        k: v for k, v in get_headers.items() if k not in varying
    }


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
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"segments", "frames_per_segment", "thumbnails"}
    # The opt-in images: documented, off by default, and absent from the result unless asked.
    thumbnails = parameters["thumbnails"]
    assert (thumbnails["schema"]["type"], thumbnails["schema"]["default"]) == ("boolean", False)
    assert "JPEG data URI" in thumbnails["description"]
    assert "thumbnails=true" in operation["description"]
    result_schema = document["components"]["schemas"]["AnalysisResult"]
    assert "thumbnails" in result_schema["properties"]
    assert "thumbnails" not in result_schema["required"]
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
    # HEAD is served beside GET, not documented as operations of its own.
    assert not [path for path, operations in document["paths"].items() if "head" in operations]
