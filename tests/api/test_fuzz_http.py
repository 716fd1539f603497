"""The fuzzing harness over HTTP, CI tier: a seeded corpus of mutated fixtures, the earlier
crashers and some edge cases, POSTed to a real `deepfake-stream serve` process, a share of them
also as jobs (POST /v1/jobs, run by its in-process worker) and the images also as WebSocket
stream frames. Every answer is a verdict or a 4xx JSON error with its own code; the process
stays up, /healthz stays 200, it logs no error, no upload or job media is left behind, and RSS
comes back to within 10 % of where it stood after warming up. And the time limit's own error,
over HTTP."""

from __future__ import annotations

import collections
import random
import time
from pathlib import Path

import psutil
import pytest

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.contract import OK, is_image, logged_errors, post_analyze, run_job, stream_frame
from support.edge_cases import CASES
from support.live import live_server, server_process
from support.mutations import FIXTURES, random_mutation
from support.settings import isolated, with_time_limit

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
MUTATED = 16
SEED = 13
EDGE_CASES = (
    "rotation_degenerate.mp4",
    "video_1x1.mkv",
    "no_decoder.mkv",
    "png_200000x200000.png",
    "exif_bomb.jpg",
    "animated.webp",
    "jpeg_header_over_mp4.jpg",
)
JOB_EVERY = 5
STREAM_EVERY = 2  # of the images
TIME_LIMIT_S = 30.0
SAMPLING = {"segments": 2, "frames_per_segment": 2}
RSS_TOLERANCE = 0.10


def corpus() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    mutated = [random_mutation(rng) for _ in range(MUTATED)]
    return (
        [(m.name, m.apply()) for m in mutated]
        + [(path.name, path.read_bytes()) for path in sorted((FIXTURES / "fuzz").glob("*.*"))]
        + [(name, CASES[name]()) for name in EDGE_CASES]
    )


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


@pytest.mark.slow
def test_a_real_server_answers_every_mutated_upload_and_keeps_its_memory(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    inputs = corpus()
    outcomes: collections.Counter[str] = collections.Counter()
    env = {
        "DFS_LIMITS__MAX_ANALYSIS_S": str(TIME_LIMIT_S),
        # The analyzer fixture exported the ONNX graph there: no export at start-up.
        "DFS_MODEL__ONNX_CACHE_DIR": str(settings.model.onnx_cache_dir),
    }
    with server_process(tmp_path, CONFIG, **env) as (process, client):
        base = str(client.base_url)
        for warm_up in ("photo.jpg", "real_hdtf_2s.mp4"):
            data = (FIXTURES / warm_up).read_bytes()
            assert post_analyze(client, warm_up, data, SAMPLING) == OK
        before = rss(process.pid)
        images = 0
        for index, (name, data) in enumerate(inputs):
            began = time.monotonic()
            outcomes[post_analyze(client, name, data, SAMPLING)] += 1
            assert time.monotonic() - began < TIME_LIMIT_S + 5.0, name
            if index % JOB_EVERY == 0:
                outcomes["job:" + run_job(client, name, data, TIME_LIMIT_S, SAMPLING)] += 1
            if is_image(data) and (images := images + 1) % STREAM_EVERY == 0:
                outcomes["stream:" + stream_frame(base, data)] += 1
            assert not list((tmp_path / "uploads").iterdir()), name
            assert not list((tmp_path / "media").iterdir()), name
        time.sleep(2.0)  # the last analysis' memory goes back
        after = rss(process.pid)
        assert process.poll() is None
        assert client.get("/healthz").status_code == 200
    assert not logged_errors(tmp_path / "server.log")
    assert after <= before * (1 + RSS_TOLERANCE), (
        f"RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MB"
    )
    # Not vacuous: verdicts and several 4xx codes, over every path.
    assert outcomes[OK] and len([o for o in outcomes if ":" not in o]) >= 3, outcomes
    assert any(o.startswith("job:") for o in outcomes), outcomes
    assert any(o.startswith("stream:") for o in outcomes), outcomes


def test_an_analysis_past_the_time_limit_is_a_422_for_uploads_and_jobs(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    video = (FIXTURES / "real_hdtf_2s.mp4").read_bytes()
    uploads = tmp_path / "uploads"
    configured = isolated(settings, tmp_path, server={"upload_dir": uploads})
    with live_server(configured, with_time_limit(analyzer, 0.05)) as client:
        response = client.post("/v1/analyze", files={"file": ("clip.mp4", video)})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "analysis_timeout"
        assert run_job(client, "clip.mp4", video, 0.05, {}) == "analysis_timeout"
    assert not list(uploads.iterdir()) and not list((tmp_path / "media").iterdir())
