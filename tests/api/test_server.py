"""The `deepfake-stream serve` command as a real process, over real HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch

from support.processes import env_without_dfs, free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "default.yaml"
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0


def wait_ready(process: subprocess.Popen[bytes], base_url: str, stderr_log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{stderr_log.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.25)
    pytest.fail(f"server not ready after {READY_TIMEOUT_S} s:\n{stderr_log.read_text()}")


@pytest.mark.slow
def test_serve_analyses_uploads_and_stops_cleanly(fixtures: Path, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    uploads = tmp_path / "uploads"
    stderr_log = tmp_path / "stderr.log"
    env = env_without_dfs(
        DFS_MODEL__ONNX_CACHE_DIR=str(tmp_path / "onnx"),
        DFS_SERVER__UPLOAD_DIR=str(uploads),
        DFS_DATABASE__URL=f"sqlite:///{tmp_path}/jobs.db",
        DFS_STORAGE__MEDIA_DIR=str(tmp_path / "media"),
    )
    command = [str(EXECUTABLE), "serve", "--config", str(CONFIG), "--port", str(port)]
    with stderr_log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        wait_ready(process, base_url, stderr_log)
        with httpx.Client(base_url=base_url, timeout=120) as client:
            video = fixtures / "fake_dfdc_2s.mp4"
            response = client.post(
                "/v1/analyze", files={"file": (video.name, video.read_bytes(), "video/mp4")}
            )
            assert response.status_code == 200, response.text
            result = response.json()
            assert result["file_name"] == "fake_dfdc_2s.mp4"
            assert result["media"]["frames_sampled"] == 32
            assert (result["media"]["width"], result["media"]["height"]) == (480, 270)
            assert len(result["people"]) >= 1
            assert result["verdict"] == "fake"  # a DFDC fake the shipped model never saw
            assert result["model"]["untrained"] is False

            refused = client.post("/v1/analyze", files={"file": ("notes.txt", b"plain text\n")})
            assert refused.status_code == 415
            assert refused.json()["error"]["code"] == "unsupported_media_type"
        assert list(uploads.iterdir()) == []
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    log = stderr_log.read_text()
    assert returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present here")
def test_serve_refuses_a_missing_gpu(tmp_path: Path) -> None:
    completed = subprocess.run(
        [str(EXECUTABLE), "serve", "--config", str(CONFIG), "--port", str(free_port())],
        cwd=REPO,
        env=env_without_dfs(DFS_MODEL__DEVICE="cuda", DFS_MODEL__ONNX_CACHE_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 3, completed.stderr
    assert "device_unavailable" in completed.stderr
    assert "Traceback" not in completed.stderr
