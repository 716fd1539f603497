"""A real uvicorn server on a free port, in a thread of the test process, serving build_app
with the session's loaded analyzer (no model reload per test)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from deepfake_stream.api import build_app
from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer

START_TIMEOUT_S = 30.0


@contextmanager
def live_server(
    settings: Settings, analyzer: Analyzer | None, wait_ready: bool = True
) -> Iterator[httpx.Client]:
    config = uvicorn.Config(
        build_app(settings, analyzer=analyzer), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            while wait_ready and client.get("/readyz").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test server never became ready")
                time.sleep(0.05)
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=60)
