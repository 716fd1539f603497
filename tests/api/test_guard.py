"""The request guard against a real server: bodies refused before they are read, slow uploads
cut off without locking other callers out, and a Retry-After on every 503."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from deepfake_stream.api.auth import Scope, create_key
from deepfake_stream.config import Settings
from deepfake_stream.jobs.store import JobStore
from deepfake_stream.pipeline import Analyzer
from support.live import live_server
from support.settings import isolated

GIB = 1 << 30
BOUNDARY = "dfs-guard-test"


def _connect(client: httpx.Client) -> socket.socket:
    address = urlsplit(str(client.base_url))
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _answer(sock: socket.socket, timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the response on `sock` (read until it closes or is whole)."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _head(method: str, path: str, content_type: str, length: int, key: str | None = None) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: test",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
    ]
    if key is not None:
        lines.append(f"X-API-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _multipart_head(name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def _multipart(name: str, data: bytes) -> bytes:
    return _multipart_head(name) + data + f"\r\n--{BOUNDARY}--\r\n".encode()


@contextmanager
def _secured(
    settings: Settings, analyzer: Analyzer, folder: Path, **server: object
) -> Iterator[tuple[httpx.Client, str]]:
    secured = isolated(settings, folder, auth={"required": True}, server=server)
    store = JobStore(secured.database.url)
    _, key = create_key(store, "guard", frozenset(Scope), rate_per_minute=1000)
    store.close()
    with live_server(secured, analyzer) as client:
        yield client, key


def test_a_huge_body_without_a_key_is_refused_before_it_is_read(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    with _secured(settings, analyzer, tmp_path) as (client, key):
        for path in ("/v1/streams", "/v1/jobs", "/v1/analyze"):
            sock = _connect(client)
            began = time.monotonic()
            sock.sendall(_head("POST", path, "application/json", int(1.5 * GIB)))
            sock.sendall(b'{"url": "http://e.com/a", "x": "' + b"A" * 65536)
            status, headers, body = _answer(sock)
            sock.close()
            assert status == 401, (path, body)
            assert time.monotonic() - began < 1.0
            assert json.loads(body)["error"]["code"] == "unauthorized"
            assert headers["www-authenticate"] == "Bearer"
        # With a valid key, a JSON body over the JSON limit is refused as soon as it says so...
        sock = _connect(client)
        sock.sendall(_head("POST", "/v1/jobs", "application/json", int(1.5 * GIB), key))
        status, _, body = _answer(sock)
        sock.close()
        assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
        # ...and, sent without a length (chunked), once it passes it.
        chunked = httpx.post(
            f"{client.base_url}/v1/jobs",
            content=iter([b'{"url": "http://e.com/a", "x": "', b"A" * (256 * 1024), b'"}']),
            headers={"content-type": "application/json", "x-api-key": key},
        )
        assert chunked.status_code == 413, chunked.text
        assert chunked.json()["error"]["code"] == "body_too_large"


def test_an_upload_over_the_limit_is_refused_before_it_is_read(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    with _secured(settings, analyzer, tmp_path) as (client, key):
        limit = settings.limits.max_bytes
        sock = _connect(client)
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        sock.sendall(_head("POST", "/v1/analyze", content_type, limit + 2 * (1 << 20), key))
        status, _, body = _answer(sock)
        sock.close()
        assert status == 413, body


def test_slow_uploads_are_cut_off_and_lock_nobody_out(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    photo = (fixtures / "photo.jpg").read_bytes()
    limits = {"body_read_timeout_s": 3.0, "body_rate_grace_s": 1.0, "min_body_bytes_per_s": 2000}
    with _secured(settings, analyzer, tmp_path, **limits) as (client, key):
        store = JobStore(_database(settings, tmp_path))
        _, other = create_key(store, "other", frozenset(Scope), rate_per_minute=1000)
        store.close()
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        slow = []
        for _ in range(17):  # more than every place the service has
            sock = _connect(client)
            sock.sendall(_head("POST", "/v1/analyze", content_type, 100_000_000, key))
            sock.sendall(_multipart_head("slow.jpg") + b"\xff")
            slow.append(sock)
        # Another key's upload is answered while the slow ones are held open.
        began = time.monotonic()
        response = client.post(
            "/v1/analyze", files={"file": ("photo.jpg", photo)}, headers={"x-api-key": other}
        )
        assert response.status_code == 200, response.text
        assert time.monotonic() - began < 30
        # The slow uploads: refused while their caller has too many going (503, Retry-After),
        # or cut off once they are too slow (408).
        statuses = set()
        for sock in slow:
            try:
                sock.sendall(b"\xd8")
            except OSError:
                pass  # the server may have answered and closed already
            status, headers, _ = _answer(sock, timeout_s=15)
            statuses.add(status)
            if status == 503:
                assert int(headers["retry-after"]) > 0
            sock.close()
        assert statuses <= {408, 503} and 408 in statuses and 503 in statuses


def _database(settings: Settings, folder: Path) -> str:
    return isolated(settings, folder).database.url


def test_every_503_says_when_to_come_back(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    with _secured(settings, analyzer, tmp_path, uploads_per_key=1) as (client, key):
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
        held = _connect(client)
        held.sendall(_head("POST", "/v1/jobs", content_type, 10_000, key))
        held.sendall(_multipart_head("held.jpg"))
        time.sleep(0.5)  # the server has taken the key's one upload place
        refused = client.post(
            "/v1/jobs",
            files={"file": ("photo.jpg", b"\xff\xd8\xff" + b"0" * 100)},
            headers={"x-api-key": key},
        )
        held.close()
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "busy"
        assert int(refused.headers["retry-after"]) > 0
