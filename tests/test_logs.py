"""Structured logs: one JSON object a line, with the request and job ids in force."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from deepfake_stream.api.auth import Scope, create_key
from deepfake_stream.jobs.store import JobStore
from deepfake_stream.logs import configure_logging, job_id, redact, request_id
from support.live import server_process

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


def test_json_lines_carry_request_and_job_ids(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    for handler in root.handlers[:]:  # only ours writes to stderr in this test
        root.removeHandler(handler)
    try:
        configure_logging("info", "json")
        request_token, job_token = request_id.set("req-1"), job_id.set("job-9")
        logging.getLogger("deepfake_stream.test").info("job %s ended", "job-9")
        request_id.reset(request_token)
        job_id.reset(job_token)
        logging.getLogger("deepfake_stream.test").debug("not at info level")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    (line,) = capsys.readouterr().err.strip().splitlines()
    record = json.loads(line)
    assert record["message"] == "job job-9 ended"
    assert record["level"] == "INFO" and record["logger"] == "deepfake_stream.test"
    assert record["request_id"] == "req-1" and record["job_id"] == "job-9"


def test_credentials_are_redacted_wherever_they_appear() -> None:
    key = "dfs_0a1b2c_S3cr3t-Value_x"
    assert redact(f'"WebSocket /v1/streams?api_key={key}" [accepted]') == (
        '"WebSocket /v1/streams?api_key=[redacted]" [accepted]'
    )
    assert (
        redact(f"GET /v1/jobs?a=1&api_key={key}&b=2") == "GET /v1/jobs?a=1&api_key=[redacted]&b=2"
    )
    assert redact(f"Authorization: Bearer {key}") == "Authorization: Bearer [redacted]"
    assert redact(f"key {key} revoked") == "key dfs_0a1b2c_[redacted] revoked"
    assert redact("url=http://e.com/a.mp4 segments=8") == "url=http://e.com/a.mp4 segments=8"


@pytest.mark.slow
def test_no_log_line_of_the_server_holds_an_api_key(tmp_path: Path) -> None:
    """`deepfake-stream serve` as a process: a browser's WebSocket sends its key in the URL,
    which uvicorn logs; a careless client puts it in a query string, which the access log
    records. Neither line may hold the key."""
    store = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    _, key = create_key(store, "logged", frozenset(Scope), rate_per_minute=100)
    store.close()
    secret = key.rsplit("_", 1)[1]
    with server_process(tmp_path, CONFIG, DFS_AUTH__REQUIRED="true") as (_, client):
        port = urlsplit(str(client.base_url)).port
        with connect(f"ws://127.0.0.1:{port}/v1/streams?api_key={key}") as socket:
            assert json.loads(socket.recv(timeout=30))["type"] == "started"
        assert client.get("/v1/jobs", params={"api_key": key}).status_code == 401
        assert client.get("/v1/jobs", headers={"x-api-key": key}).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert "/v1/streams?api_key=[redacted]" in log  # the lines are there, the key is not
    assert "api_key=[redacted]" in log and "GET /v1/jobs" in log
    assert secret not in log
