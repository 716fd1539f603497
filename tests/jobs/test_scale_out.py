"""Scale-out, as deployed: a `serve` process on the Redis broker (a light front without the
model) and a `worker` process, over real HTTP, Redis and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from deepfake_stream.config import Settings
from support.processes import env_without_dfs, free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "default.yaml"
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"
REDIS_URL = "redis://127.0.0.1:6379/0"  # as in conftest.py
READY_TIMEOUT_S = 120.0
# The API front loads no model: far under a worker's footprint.
FRONT_MAX_RSS_MB = 300


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [str(EXECUTABLE), *command, "--config", str(CONFIG)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@pytest.mark.slow
def test_the_front_relays_analyses_to_workers(
    settings: Settings,
    tmp_path: Path,
    fixtures: Path,
    redis_namespace: str,
    postgres_url: str,
) -> None:
    port = free_port()
    env = env_without_dfs(
        DFS_DATABASE__URL=postgres_url,
        DFS_STORAGE__MEDIA_DIR=str(tmp_path / "media"),
        DFS_QUEUE__BROKER="redis",
        DFS_QUEUE__REDIS_URL=REDIS_URL,
        DFS_QUEUE__NAMESPACE=redis_namespace,
        DFS_QUEUE__METRICS_PORT=str(free_port()),
        DFS_MODEL__ONNX_CACHE_DIR=str(settings.model.onnx_cache_dir),
        OMP_WAIT_POLICY="PASSIVE",
    )
    log = tmp_path / "processes.log"
    front = start(["serve", "--port", str(port)], env, log)
    worker = start(["worker"], env, log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            deadline = time.monotonic() + READY_TIMEOUT_S
            # Ready as soon as the database and Redis answer: the front loads no model...
            while True:
                assert front.poll() is None and worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            # ...and shows the model card that the worker publishes once it has loaded.
            while (card := client.get("/v1/model")).status_code == 503:
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            assert card.status_code == 200 and card.json()["weights_name"] == "srm-lite0-wild"

            video = fixtures / "fake_dfdc_2s.mp4"
            synchronous = client.post(
                "/v1/analyze",
                params={"segments": 2, "thumbnails": "true"},
                files={"file": (video.name, video.read_bytes())},
            )
            assert synchronous.status_code == 200, synchronous.text
            assert synchronous.json()["verdict"] == "fake"
            assert synchronous.json()["settings"]["segments"] == 2
            # The options reach the worker: one thumbnail per segment of the one person.
            thumbnails = synchronous.json()["thumbnails"]
            assert [t["segment"] for t in thumbnails] == [0, 1]
            assert all(t["image"].startswith("data:image/jpeg;base64,") for t in thumbnails)
            corrupt = client.post(
                "/v1/analyze", files={"file": ("x.jpg", (fixtures / "corrupt.jpg").read_bytes())}
            )
            assert corrupt.status_code == 400 and corrupt.json()["error"]["code"] == "corrupt_media"
            # The synchronous path keeps nothing.
            assert client.get("/v1/jobs").json()["jobs"] == []
            assert list((tmp_path / "media").iterdir()) == []

            job = client.post("/v1/jobs", files={"file": (video.name, video.read_bytes())})
            assert job.status_code == 202
            while (ended := client.get(f"/v1/jobs/{job.json()['id']}").json())["status"] in (
                "queued",
                "running",
            ):
                time.sleep(0.1)
            assert ended["status"] == "succeeded" and ended["result"]["verdict"] == "fake"
            assert "thumbnails" not in ended["result"]  # not asked for

            # Streams run where the model runs: the front refuses them, loading nothing.
            reader = client.post("/v1/streams", json={"url": "https://example.com/live.m3u8"})
            assert reader.status_code == 503 and "where the model runs" in reader.text
            assert int(reader.headers["retry-after"]) > 0
            assert client.get("/v1/streams").status_code == 503

            rss_mb = psutil.Process(front.pid).memory_info().rss / 2**20
            assert rss_mb < FRONT_MAX_RSS_MB, f"the front holds {rss_mb:.0f} MB"
            maps = Path(f"/proc/{front.pid}/maps").read_text()
            assert "libtorch" not in maps  # PyTorch never loaded in the front
    finally:
        for process in (front, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (front, worker):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
