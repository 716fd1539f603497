"""A real uvicorn server on a free port, in a thread of the test process, serving build_app
with the session's loaded analyzer (no model reload per test); or `deepfake-stream serve` as a
process of its own, where the process itself is under test (its memory, its survival)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from deepfake_stream.api import build_app
from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.processes import env_without_dfs, free_port

START_TIMEOUT_S = 30.0
PROCESS_READY_TIMEOUT_S = 120.0
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"


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


@contextmanager
def server_process(
    folder: Path, config: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """`deepfake-stream serve` with its uploads, job media and job database under `folder`
    (log: folder/server.log), DFS_* overrides from `env`; stopped with SIGTERM."""
    port = free_port()
    environment = env_without_dfs(
        **{
            "DFS_SERVER__PORT": str(port),
            "DFS_SERVER__UPLOAD_DIR": str(folder / "uploads"),
            "DFS_STORAGE__MEDIA_DIR": str(folder / "media"),
            "DFS_DATABASE__URL": f"sqlite:///{folder}/jobs.db",
            **env,
        }
    )
    (folder / "uploads").mkdir(parents=True, exist_ok=True)
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(EXECUTABLE), "serve", "--config", str(config)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            deadline = time.monotonic() + PROCESS_READY_TIMEOUT_S
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not become ready; see {folder}/server.log")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.25)
            yield process, client
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
