"""Helpers for tests of the REST API in-process: posting media, asserting the error shape."""

from __future__ import annotations

import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from deepfake_stream.api.upload import UPLOAD_PREFIX
from deepfake_stream.config import Settings
from deepfake_stream.schema import AnalysisResult

READY_TIMEOUT_S = 60.0

SHA256 = re.compile(r"[0-9a-f]{64}")

SMALL_LIMIT = 10_000  # bytes; photo.jpg (36 KB) and photo.png (274 KB) exceed it


def with_limits(settings: Settings, **limits: Any) -> Settings:
    return settings.model_copy(update={"limits": settings.limits.model_copy(update=limits)})


def with_server(settings: Settings, **server: Any) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


def post_media(
    client: TestClient, content: bytes, name: str | None = "upload", **params: Any
) -> httpx.Response:
    return client.post("/v1/analyze", params=params, files={"file": (name, content)})


def post_fixture(client: TestClient, path: Path, **params: Any) -> httpx.Response:
    return post_media(client, path.read_bytes(), path.name, **params)


def error_message(response: httpx.Response, status: int, code: str) -> str:
    """Assert the JSON error shape, status and code; return the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


def ok_result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    AnalysisResult.model_validate(body)  # the documented schema, nothing more or less
    return body


def wait_until_settled(client: TestClient) -> httpx.Response:
    """Poll /readyz until the background load has finished, one way or the other."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or "still loading" not in response.text:
            return response
        assert time.monotonic() < deadline, "the model did not finish loading in time"
        time.sleep(0.1)


def assert_box_inside(box: list[float], width: int, height: int) -> None:
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= width
    assert 0 <= y1 < y2 <= height


def multipart(content: bytes, boundary: str = "dfs-test-boundary") -> tuple[bytes, str]:
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), boundary


def assert_no_server_path(text: str, *folders: Path) -> None:
    """`text`, which a client reads, names none of `folders`, nor the temp dir, nor an upload's
    temp file."""
    for folder in (*folders, Path(tempfile.gettempdir())):
        assert str(folder) not in text, text
    assert UPLOAD_PREFIX not in text, text


def raw_response(base_url: str, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and every byte after them, as the server sent them before closing the
    connection: an HTTP client drops whatever follows the headers of a HEAD response itself."""
    host, port = httpx.URL(base_url).host, httpx.URL(base_url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, rest
