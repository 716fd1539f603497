"""Benchmark the job service against the targets of issue #10, with real processes: the API
front and workers on Redis and PostgreSQL, a real webhook receiver.

    .venv/bin/python scripts/bench_jobs.py drain [--clips 60] [--workers 2]
    .venv/bin/python scripts/bench_jobs.py webhook-outage [--down-s 120]
    .venv/bin/python scripts/bench_jobs.py uploads [--count 16] [--mb 100]

drain: the analysis rate of one process (`Analyzer` in a loop, 2 threads) on the 10 s clips of
  ../shared/media, then the same clips queued at once to `--workers` worker processes (1 thread
  each) through POST /v1/jobs, timing each POST while the workers are busy.
webhook-outage: a job whose callback receiver only starts listening after --down-s seconds.
uploads: --count concurrent uploads of --mb MB each to the API front; its peak RSS and the
  answers.
Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (database `test`, trust).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"
CONFIG = REPO / "configs" / "default.yaml"
CLIPS = sorted((REPO.parent / "shared" / "media" / "video").glob("*/dfdc_*.mp4"))
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
READY_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"dfs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


class Service:
    """The API front and N worker processes on one database and Redis namespace."""

    def __init__(self, folder: Path, database: str, workers: int, **env: str) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
        self.env.update(
            DFS_DATABASE__URL=database,
            DFS_STORAGE__MEDIA_DIR=str(folder / "media"),
            DFS_QUEUE__BROKER="redis",
            DFS_QUEUE__REDIS_URL=REDIS_URL,
            DFS_QUEUE__NAMESPACE=f"dfs-bench-{uuid.uuid4().hex[:8]}",
            DFS_WEBHOOKS__ALLOW_PRIVATE="true",
            DFS_SERVER__LOG_LEVEL="warning",
            DFS_SERVER__MAX_QUEUED="64",
            OMP_WAIT_POLICY="PASSIVE",
            **env,
        )
        self.log = (folder / "service.log").open("ab")
        self.front = self._start(["serve", "--port", str(self.port)], {})
        self.workers = [
            self._start(["worker"], {"DFS_QUEUE__METRICS_PORT": str(free_port())})
            for _ in range(workers)
        ]
        self.url = f"http://127.0.0.1:{self.port}"

    def _start(self, command: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(EXECUTABLE), *command, "--config", str(CONFIG)],
            cwd=REPO,
            env={**self.env, **extra},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def wait_ready(self, workers_loaded: bool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while True:
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not become ready")
                try:
                    ready = client.get("/readyz").status_code == 200
                    if ready and (not workers_loaded or client.get("/v1/model").status_code == 200):
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
        if workers_loaded:
            time.sleep(20)  # every worker, not just the first, has loaded its model

    def stop(self) -> None:
        import redis

        for process in (self.front, *self.workers):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.front, *self.workers):
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{self.env['DFS_QUEUE__NAMESPACE']}*"):
            client.delete(key)
        client.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def drain(clips: int, workers: int, single: float | None) -> None:
    files = [CLIPS[i % len(CLIPS)] for i in range(clips)]
    print(f"{clips} clips of 10 s ({len(CLIPS)} distinct DFDC videos, 720p-1080p)")

    if single is None:  # one process, as `deepfake-stream analyze` runs: the reference
        from deepfake_stream.config import load_settings
        from deepfake_stream.pipeline import Analyzer

        analyzer = Analyzer(load_settings(CONFIG))
        analyzer.analyze(files[0])  # warm-up (ONNX graph, caches)
        started = time.perf_counter()
        for path in files:
            analyzer.analyze(path)
        single = clips / (time.perf_counter() - started)
        analyzer.close()
        print(f"single process (2 threads): {single:.3f} clips/s ({1 / single:.2f} s a clip)")
    else:
        print(f"single process (2 threads): {single:.3f} clips/s, as measured earlier")

    with tempfile.TemporaryDirectory() as folder, fresh_database() as database:
        service = Service(
            Path(folder), database, workers, DFS_MODEL__THREADS="1", DFS_QUEUE__WORKER_THREADS="1"
        )
        try:
            service.wait_ready(workers_loaded=True)
            post_ms: list[float] = []
            ids: list[str] = []
            with httpx.Client(base_url=service.url, timeout=60) as client:
                started = time.perf_counter()
                for path in files:
                    body = path.read_bytes()
                    began = time.perf_counter()
                    response = client.post("/v1/jobs", files={"file": (path.name, body)})
                    post_ms.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 202, response.text
                    ids.append(response.json()["id"])
                # Cheap polling (one row per query) so as not to steal the workers' CPU.
                while any(
                    client.get("/v1/jobs", params={"status": state, "limit": 1}).json()["jobs"]
                    for state in ("queued", "running")
                ):
                    time.sleep(1.0)
                elapsed = time.perf_counter() - started
                failed = 0
                for state in ("failed", "cancelled"):
                    cursor = None
                    while True:
                        params = {
                            "status": state,
                            "limit": 100,
                            **({"cursor": cursor} if cursor else {}),
                        }
                        page = client.get("/v1/jobs", params=params).json()
                        failed += len(page["jobs"])
                        if not (cursor := page["next_cursor"]):
                            break
                # POSTs while the workers were saturated: all but the first two.
                busy_post_ms = post_ms[workers:]
                metrics = client.get("/metrics").text
        finally:
            service.stop()
    rate = clips / elapsed
    print(
        f"{workers} workers (1 thread each): {rate:.3f} clips/s, {rate / single:.1%} of the "
        f"single process; {failed} failed"
    )
    print(
        f"POST /v1/jobs while the workers were busy ({len(busy_post_ms)} uploads of "
        f"{min(p.stat().st_size for p in files) / 1e6:.1f}-"
        f"{max(p.stat().st_size for p in files) / 1e6:.1f} MB): "
        f"p50 {statistics.median(busy_post_ms):.1f} ms, p95 {percentile(busy_post_ms, 0.95):.1f}"
        f" ms, max {max(busy_post_ms):.1f} ms"
    )
    print(next(line for line in metrics.splitlines() if line.startswith("dfs_jobs{")))


class LateReceiver:
    """A webhook receiver that starts listening only after `down_s` seconds."""

    def __init__(self, down_s: float) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.port = free_port()
        self.deliveries: list[tuple[float, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.deliveries.append((time.monotonic(), dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        def serve_later() -> None:
            time.sleep(down_s)
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self.up_at = time.monotonic()
            self.server.serve_forever()

        threading.Thread(target=serve_later, daemon=True).start()


def webhook_outage(down_s: float) -> None:
    from deepfake_stream.config import WebhookSettings
    from deepfake_stream.jobs.store import JobStore
    from deepfake_stream.network import SECRET_NAME, verify

    photo = REPO / "tests" / "fixtures" / "photo.jpg"
    with tempfile.TemporaryDirectory() as folder, fresh_database() as database:
        service = Service(Path(folder), database, workers=1)
        try:
            service.wait_ready(workers_loaded=True)
            receiver = LateReceiver(down_s)
            began = time.monotonic()
            with httpx.Client(base_url=service.url, timeout=60) as client:
                job = client.post(
                    "/v1/jobs",
                    files={"file": (photo.name, photo.read_bytes())},
                    data={"callback_url": f"http://127.0.0.1:{receiver.port}/hook"},
                ).json()
                deadline = began + down_s + 2 * WebhookSettings().max_backoff_s + 60
                while not receiver.deliveries and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(2)
                view = client.get(f"/v1/jobs/{job['id']}").json()
            store = JobStore(database)
            attempts = store.deliveries(job["id"])
            secret = store.secret(SECRET_NAME, str)
            store.close()
        finally:
            service.stop()
    if not receiver.deliveries:
        print(f"NOT DELIVERED within {deadline - began:.0f} s; attempts {len(attempts)}")
        return
    arrived, headers, body = receiver.deliveries[0]
    payload = verify(secret, body, {k.lower(): v for k, v in headers.items()})
    print(
        f"receiver down {down_s:.0f} s: delivered {arrived - began:.0f} s after submission "
        f"({arrived - receiver.up_at:.1f} s after it came up), {len(receiver.deliveries)} "
        f"delivery, signature valid, type {payload['type']}; {len(attempts)} attempts recorded "
        f"({sum(not a.succeeded for a in attempts)} failed); job webhook state {view['webhook']}"
    )


def uploads(count: int, megabytes: int) -> None:
    with tempfile.TemporaryDirectory() as folder, fresh_database() as database:
        big = Path(folder) / "big.mp4"
        with big.open("wb") as handle:
            handle.write(b"\x00\x00\x00\x18ftypmp42")  # an MP4 header; the rest is noise
            handle.write(os.urandom(megabytes * 2**20 - 12))
        service = Service(Path(folder), database, workers=0)
        try:
            service.wait_ready(workers_loaded=False)
            front = psutil.Process(service.front.pid)
            idle_mb = front.memory_info().rss / 2**20
            peak = [idle_mb]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], front.memory_info().rss / 2**20)
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            answers: list[int] = []

            def send() -> None:
                with big.open("rb") as body, httpx.Client(timeout=600) as client:
                    response = client.post(
                        f"{service.url}/v1/jobs", files={"file": ("big.mp4", body)}
                    )
                    answers.append(response.status_code)
                    assert response.headers["content-type"].startswith("application/json")

            started = time.perf_counter()
            senders = [threading.Thread(target=send) for _ in range(count)]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join()
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
        finally:
            service.stop()
    print(
        f"{count} concurrent uploads of {megabytes} MB in {elapsed:.1f} s: answers "
        f"{sorted(answers)}; API front RSS idle {idle_mb:.0f} MB, peak {peak[0]:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    drain_args = commands.add_parser("drain")
    drain_args.add_argument("--clips", type=int, default=60)
    drain_args.add_argument("--workers", type=int, default=2)
    drain_args.add_argument(
        "--single-rate", type=float, help="clips/s of one process, measured before (skips it)"
    )
    outage = commands.add_parser("webhook-outage")
    outage.add_argument("--down-s", type=float, default=120.0)
    upload_args = commands.add_parser("uploads")
    upload_args.add_argument("--count", type=int, default=16)
    upload_args.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    if args.command == "drain":
        drain(args.clips, args.workers, args.single_rate)
    elif args.command == "webhook-outage":
        webhook_outage(args.down_s)
    else:
        uploads(args.count, args.mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
