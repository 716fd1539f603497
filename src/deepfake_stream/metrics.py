"""Prometheus metrics: HTTP latency, per-stage analysis time, verdicts, jobs, queue depth and
webhook deliveries. The API serves them at /metrics; each worker on queue.metrics_port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .schema import AnalysisResult

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)

HTTP_REQUEST_SECONDS = Histogram(
    "dfs_http_request_duration_seconds",
    "HTTP request latency, by method, route template and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
ANALYSIS_STAGE_SECONDS = Histogram(
    "dfs_analysis_stage_seconds",
    "Time spent in each analysis stage (decode, detect, classify, total).",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
VERDICTS = Counter("dfs_verdicts_total", "Analyses by verdict.", ["verdict"])
JOBS_ENDED = Counter("dfs_jobs_ended_total", "Jobs that ended, by final status.", ["status"])
WEBHOOK_ATTEMPTS = Counter(
    "dfs_webhook_attempts_total", "Webhook delivery attempts, by outcome.", ["outcome"]
)
WEBHOOK_DELIVERIES = Counter(
    "dfs_webhook_deliveries_total",
    "Webhooks by final outcome (delivered, or failed after every attempt).",
    ["outcome"],
)

STREAMS_ACTIVE = Gauge("dfs_streams_active", "Live streams running in this process.")
STREAM_FRAMES = Counter(
    "dfs_stream_frames_total",
    "Live stream frames, by outcome (analysed, or dropped for a newer one).",
    ["outcome"],
)
STREAM_ALERTS = Counter("dfs_stream_alerts_total", "Live stream alerts, by rule.", ["rule"])


def observe_analysis(result: AnalysisResult) -> None:
    timings = result.timings
    for stage, ms in (
        ("decode", timings.decode_ms),
        ("detect", timings.detect_ms),
        ("classify", timings.classify_ms),
        ("total", timings.total_ms),
    ):
        ANALYSIS_STAGE_SECONDS.labels(stage).observe(ms / 1000)
    VERDICTS.labels(result.verdict.value).inc()


# Every job state, reported at 0 when no job is in it (jobs.store.JobStatus; a test keeps the
# two alike).
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class _JobsCollector(Collector):
    """Queue depth and jobs by state, read from the broker and the store at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: tuple[Callable[[], dict[str, int]], Callable[[], int]] | None = None

    def watch(self, count_by_state: Callable[[], dict[str, int]], depth: Callable[[], int]) -> None:
        """Read the jobs per state and the queue's depth with these at each scrape."""
        with self._lock:
            self._sources = (count_by_state, depth)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = self._sources
        if sources is None:
            return
        count_by_state, queue_depth = sources
        depth = GaugeMetricFamily("dfs_queue_depth", "Jobs waiting in the queue for a worker.")
        jobs = GaugeMetricFamily("dfs_jobs", "Jobs in the store, by state.", labels=["state"])
        try:
            depth.add_metric([], queue_depth())
            counts = count_by_state()
        except Exception as exc:  # a scrape must not fail because Redis or the DB blinked
            log.warning("job metrics unavailable: %s", exc)
            return
        for state in JOB_STATES:
            jobs.add_metric([state], counts.get(state, 0))
        yield depth
        yield jobs


JOBS_COLLECTOR = _JobsCollector()
REGISTRY.register(JOBS_COLLECTOR)
