"""/metrics and the request id, over real HTTP."""

from __future__ import annotations

import re
import time
from pathlib import Path

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from support.live import live_server
from support.settings import isolated


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text exposition."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.match(r"^([a-z_]+)(\{.*\})? (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no {name} {labels} in /metrics")


def test_metrics_count_requests_stages_verdicts_and_jobs(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    configured = isolated(settings, tmp_path)
    with live_server(configured, analyzer) as client:
        before = client.get("/metrics").text
        verdicts_before = sum(
            sample(before, "dfs_verdicts_total", verdict=v)
            for v in ("real", "fake", "uncertain", "no_face")
            if f'verdict="{v}"' in before
        )
        photo = fixtures / "photo.jpg"
        response = client.post("/v1/jobs", files={"file": (photo.name, photo.read_bytes())})
        job_id = response.json()["id"]
        while client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running"):
            time.sleep(0.1)
        analyzed = client.post("/v1/analyze", files={"file": (photo.name, photo.read_bytes())})
        assert analyzed.status_code == 200

        text = client.get("/metrics").text
        assert sample(text, "dfs_jobs", state="succeeded") == 1
        assert sample(text, "dfs_jobs", state="queued") == 0
        assert sample(text, "dfs_queue_depth") == 0
        verdicts = sum(
            sample(text, "dfs_verdicts_total", verdict=v)
            for v in ("real", "fake", "uncertain", "no_face")
            if f'verdict="{v}"' in text
        )
        assert verdicts - verdicts_before == 2  # the job and the synchronous analysis
        assert sample(text, "dfs_analysis_stage_seconds_count", stage="detect") >= 2
        assert (
            sample(
                text,
                "dfs_http_request_duration_seconds_count",
                method="GET",
                route="/v1/jobs/{job_id}",
                status="200",
            )
            >= 1
        )
        assert sample(text, "dfs_jobs_ended_total", status="succeeded") >= 1


def test_request_ids_are_echoed_or_made(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    configured = isolated(settings, tmp_path)
    with live_server(configured, analyzer) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
        assert given.headers["x-request-id"] == "trace-123"
        made = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
        missing = client.get("/v1/jobs/nope")
        assert missing.status_code == 404 and "x-request-id" in missing.headers
