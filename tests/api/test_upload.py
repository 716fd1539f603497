"""Streaming multipart uploads, through a real HTTP server: the file part lands on disk as sent,
the option fields come along, and every malformed or oversized body is refused with its code
and leaves no file behind."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from deepfake_stream.api.errors import install_error_handlers
from deepfake_stream.api.upload import save_upload

MAX_BYTES = 200_000


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def client(uploads: Path) -> Iterator[httpx.Client]:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, object]:
        saved = await save_upload(request, uploads, MAX_BYTES)
        digest = hashlib.sha256(saved.path.read_bytes()).hexdigest()
        saved.path.unlink()
        return {"filename": saved.filename, "size": saved.size, "sha256": digest, **saved.fields}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        yield http
    server.should_exit = True
    thread.join(timeout=30)


def test_the_file_part_is_saved_as_sent_with_the_option_fields(
    client: httpx.Client, fixtures: Path, uploads: Path
) -> None:
    data = (fixtures / "photo.jpg").read_bytes()
    response = client.post(
        "/upload",
        files={"file": ("me.jpg", data, "image/jpeg")},
        data={"segments": "4", "callback_url": "https://example.com/hook"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert body["filename"] == "me.jpg"
    assert body["segments"] == "4" and body["callback_url"] == "https://example.com/hook"
    assert list(uploads.iterdir()) == []


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"content": b"raw bytes", "headers": {"content-type": "image/jpeg"}}, 422, None),
        ({"files": {"other": ("x.jpg", b"data")}}, 422, "invalid_parameters"),
        ({"files": {"file": ("big.bin", b"x" * (MAX_BYTES + 1))}}, 413, "file_too_large"),
    ],
    ids=["not-multipart", "no-file-field", "too-large"],
)
def test_bodies_that_are_no_upload_are_refused_with_their_code(
    client: httpx.Client,
    uploads: Path,
    request_kwargs: dict[str, object],
    status: int,
    code: str | None,
) -> None:
    response = client.post("/upload", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert code is None or response.json()["error"]["code"] == code
    assert list(uploads.iterdir()) == []


def test_a_body_cut_off_before_its_closing_boundary_is_corrupt(
    client: httpx.Client, uploads: Path
) -> None:
    boundary = "cutoff"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode() + b"\x00" * 5000  # no closing boundary
    response = client.post(
        "/upload",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "corrupt_media"
    assert "cut off" in response.json()["error"]["message"]
    assert list(uploads.iterdir()) == []


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.Client, uploads: Path
) -> None:
    response = client.post(
        "/upload",
        content=b"x" * (MAX_BYTES + 100_000),  # past the limit and the multipart allowance
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    assert list(uploads.iterdir()) == []
