"""Benchmark the real service: start `deepfake-stream serve`, upload every file of a media
folder over HTTP, and report per-file latency and the server process's peak RSS.

    .venv/bin/python scripts/bench_service.py [--media ../shared/media] [--config F]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from deepfake_stream.bench import media_files

READY_TIMEOUT_S = 120
RSS_SAMPLE_INTERVAL_S = 0.02


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--media", type=Path, default=Path("../shared/media"))
    parser.add_argument("--config", default="configs/default.yaml")
    args = parser.parse_args()
    port = free_port()
    executable = shutil.which("deepfake-stream", path=str(Path(sys.executable).parent))
    assert executable, "deepfake-stream is not installed in this environment"
    scratch = Path(tempfile.mkdtemp(prefix="dfs-bench-"))
    env = {**os.environ, "DFS_SERVER__UPLOAD_DIR": str(scratch), "DFS_SERVER__PORT": str(port)}
    server = subprocess.Popen(
        [executable, "serve", "--config", args.config],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    process = psutil.Process(server.pid)
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.wait(RSS_SAMPLE_INTERVAL_S):
            peak = max(peak, process.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        with httpx.Client(base_url=base, timeout=120) as client:
            while time.monotonic() - started < READY_TIMEOUT_S:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            print(f"ready after {time.monotonic() - started:.1f} s, RSS {peak / 2**20:.0f} MB")
            print(f"{'file':34} {'status':>6} {'verdict':>10} {'seconds':>8} {'peak MB':>8}")
            for path in media_files(args.media):
                began = time.perf_counter()
                with path.open("rb") as handle:
                    response = client.post("/v1/analyze", files={"file": (path.name, handle)})
                elapsed = time.perf_counter() - began
                verdict = response.json().get("verdict", response.json().get("error", {}))
                name = str(path.relative_to(args.media))
                print(
                    f"{name:34} {response.status_code:>6} {str(verdict):>10} "
                    f"{elapsed:>8.2f} {peak / 2**20:>8.0f}"
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        stop.set()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"server peak RSS: {peak / 2**20:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
