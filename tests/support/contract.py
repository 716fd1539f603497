"""The contract every input must keep, for the fuzzing harness: it ends in a result or in a 4xx
error with a specific code, within the time limit. Anything else (a 5xx error, any other
exception) propagates: that is what the harness hunts."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.sync.client import connect

from deepfake_stream.errors import DeepfakeStreamError, error_for_code
from deepfake_stream.media import MediaKind, sniff

OK = "ok"  # a result (a verdict, or loaded media)
# Past the limit, the work stops at its next check: one detection batch, one decoded frame.
LIMIT_SLACK_S = 5.0
JOB_POLL_S = 0.1
WS_EVENT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Outcome:
    code: str  # OK, or the 4xx error's code
    seconds: float


def outcome_of(run: Callable[[], object]) -> Outcome:
    began = time.monotonic()
    try:
        run()
    except DeepfakeStreamError as exc:
        if not 400 <= exc.http_status < 500 or exc.code in ("error", "media_error"):
            raise  # a 5xx, or a 4xx without its own code
        return Outcome(exc.code, time.monotonic() - began)
    return Outcome(OK, time.monotonic() - began)


def within_limit(outcome: Outcome, limit_s: float) -> bool:
    return outcome.seconds <= limit_s + LIMIT_SLACK_S


def is_image(data: bytes) -> bool:
    """Whether the bytes are sniffed as an image (the ones a stream frame may be)."""
    try:
        return sniff(data[:64]).kind is MediaKind.IMAGE
    except DeepfakeStreamError:
        return False


# The same contract over HTTP: each helper answers OK or the 4xx error's code, and raises for a
# 5xx, an internal_error job or stream event, or a job that does not end.


def error_code(response: httpx.Response) -> str:
    """The 4xx JSON error's code; raises for anything else."""
    if response.status_code >= 500 or response.status_code < 400:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    return specific_4xx(response.json()["error"]["code"], response.text)


def specific_4xx(code: str, context: str) -> str:
    """`code`, if it names a 4xx error of its own (a job's or a stream event's); else raises."""
    if not 400 <= error_for_code(code, context).http_status < 500 or code == "media_error":
        raise AssertionError(f"{code}: {context[:500]}")
    return code


def post_analyze(
    client: httpx.Client, name: str, data: bytes, sampling: dict[str, int] | None = None
) -> str:
    response = client.post("/v1/analyze", params=sampling, files={"file": (name[-60:], data)})
    if response.status_code == 200:
        assert response.json()["verdict"], response.text
        return OK
    return error_code(response)


def run_job(
    client: httpx.Client, name: str, data: bytes, limit_s: float, sampling: dict[str, int]
) -> str:
    response = client.post("/v1/jobs", data=sampling, files={"file": (name[-60:], data)})
    if response.status_code != 202:
        return error_code(response)
    job_id = response.json()["id"]
    deadline = time.monotonic() + limit_s + LIMIT_SLACK_S + 30.0
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "succeeded":
            client.delete(f"/v1/jobs/{job_id}")
            return OK
        if job["status"] == "failed":
            client.delete(f"/v1/jobs/{job_id}")
            return specific_4xx(job["error"]["code"], f"job {job_id}: {job['error']}")
        assert job["status"] in ("queued", "running"), job
        time.sleep(JOB_POLL_S)
    raise AssertionError(f"job {job_id} still {job['status']} after its time limit")


def stream_frame(base: str, data: bytes) -> str:
    """One frame over WS /v1/streams: its `scores` event, or its `error` event's code."""
    with connect(base.replace("http://", "ws://") + "/v1/streams") as ws:
        json.loads(ws.recv(timeout=WS_EVENT_TIMEOUT_S))  # started
        ws.send(struct.pack(">d", 0.0) + data)
        while True:
            event = json.loads(ws.recv(timeout=WS_EVENT_TIMEOUT_S))
            if event["type"] == "scores":
                ws.send('{"type":"close"}')
                return OK
            if event["type"] == "error":
                ws.send('{"type":"close"}')
                return specific_4xx(event["code"], f"stream frame: {event['message']}")


def logged_errors(server_log: Path) -> list[str]:
    """The ERROR lines of a server's JSON log: an unhandled exception never reaches a client
    as a 500 on a WebSocket, but it does reach the log."""
    return [line for line in server_log.read_text().splitlines() if '"level": "ERROR"' in line]
