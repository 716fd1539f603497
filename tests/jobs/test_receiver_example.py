"""scripts/webhook_receiver.py, the documented example receiver, as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from deepfake_stream.network import new_signing_secret, sign
from support.processes import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "webhook_receiver.py"


def test_the_example_receiver_verifies_and_drops_duplicates() -> None:
    port = free_port()
    secret = new_signing_secret()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port)],
        env={**os.environ, "DFS_WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        body = json.dumps(
            {
                "type": "job.succeeded",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": {"id": "j1", "result": {"verdict": "fake", "probability": 0.9}},
            }
        )
        headers = sign(secret, "msg_j1", datetime.now(UTC), body)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                first = httpx.post(url, content=body, headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        again = httpx.post(url, content=body, headers=headers)  # a retry: same webhook-id
        forged = httpx.post(url, content=body.replace("fake", "real"), headers=headers)
        assert (first.status_code, again.status_code, forged.status_code) == (204, 204, 400)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    printed = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert printed == [
        {
            "event": "job.succeeded",
            "job": "j1",
            "verdict": "fake",
            "probability": 0.9,
            "error": None,
        }
    ]
