"""The job runner with the real model: jobs end once, media goes, webhooks follow; and worker
processes on the real Redis broker survive a kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from deepfake_stream.config import Settings
from deepfake_stream.database import utcnow
from deepfake_stream.jobs.queue import JobQueue
from deepfake_stream.jobs.storage import MediaStore
from deepfake_stream.jobs.store import JobStatus, JobStore, WebhookState
from deepfake_stream.network import verify
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.schema import AnalysisResult
from support.processes import env_without_dfs
from support.receiver import ReceiverServer
from support.settings import isolated, with_time_limit

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"  # as in conftest.py
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"
JOB_TIMEOUT_S = 120.0


def job_settings(settings: Settings, tmp_path: Path, **queue: object) -> Settings:
    return isolated(
        settings,
        tmp_path,
        queue=queue,
        webhooks={"allow_private": True, "initial_backoff_s": 0.1, "max_backoff_s": 0.5},
    )


class Harness:
    """A JobRunner on the embedded broker, with its store and media directory."""

    def __init__(self, settings: Settings, analyzer: Analyzer) -> None:
        from deepfake_stream.jobs.worker import JobRunner

        self.settings = settings
        self.store = JobStore(settings.database.url)
        self.media = MediaStore(settings.storage.media_dir)
        self.queue = JobQueue(settings.queue)
        self.runner = JobRunner(settings, analyzer, self.store, self.media, self.queue)

    def submit(self, video: Path, **fields: object) -> str:
        copy = self.media.directory / f"upload-{time.monotonic_ns()}"
        shutil.copy(video, copy)
        job = self.store.create_job(
            media_path=None,
            media_bytes=copy.stat().st_size,
            file_name=video.name,
            options=dict(fields.pop("options", {})),  # type: ignore[call-overload]
            callback_url=fields.pop("callback_url", None),  # type: ignore[arg-type]
            keep_media=bool(fields.pop("keep_media", False)),
            api_key_id=None,
            idempotency_key=None,
        )
        self.store.set_media_path(job.id, str(self.media.adopt(copy, job.id)))
        return job.id

    def close(self) -> None:
        self.runner.close()
        self.store.close()


@pytest.fixture
def harness(settings: Settings, analyzer: Analyzer, tmp_path: Path) -> Iterator[Harness]:
    made = Harness(job_settings(settings, tmp_path), analyzer)
    yield made
    made.close()


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer()
    yield server
    server.close()


def test_a_job_runs_once_deletes_its_media_and_calls_back(
    harness: Harness, fixtures: Path, receiver: ReceiverServer
) -> None:
    job_id = harness.submit(
        fixtures / "fake_dfdc_2s.mp4", callback_url=receiver.receiver.url, options={"segments": 2}
    )
    media_path = harness.store.get_job(job_id).media_path  # type: ignore[union-attr]
    assert harness.runner.run(job_id) is JobStatus.SUCCEEDED
    assert harness.runner.run(job_id) is None  # a second delivery of the message does nothing

    job = harness.store.get_job(job_id)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempts == 1
    result = AnalysisResult.model_validate(job.result)
    assert result.verdict == "fake" and result.settings.segments == 2
    assert job.media_path is None and media_path is not None and not Path(media_path).exists()

    assert receiver.receiver.arrived.wait(30)
    (delivery,) = receiver.receiver.deliveries
    payload = verify(harness.runner.webhooks.secret, delivery.body, delivery.headers)
    data = payload["data"]
    assert isinstance(data, dict) and data["status"] == "succeeded"
    assert data["result"]["verdict"] == "fake"
    deadline = time.monotonic() + 10
    while harness.store.get_job(job_id).webhook_state != WebhookState.DELIVERED:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_kept_media_stays_until_the_purge(harness: Harness, fixtures: Path) -> None:
    job_id = harness.submit(fixtures / "photo.jpg", keep_media=True)
    assert harness.runner.run(job_id) is JobStatus.SUCCEEDED
    job = harness.store.get_job(job_id)
    assert job is not None and job.media_path is not None and Path(job.media_path).exists()
    assert harness.runner.purge_expired() == 0
    # Expire it now: the purge removes row and media.
    with harness.store.session() as session:
        from deepfake_stream.jobs.store import JobRow

        row = session.get(JobRow, job_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    # A file no job refers to: deleted once old; a young one may be an upload in progress.
    stale = harness.media.directory / "dfs-upload-crashed"
    stale.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    streaming = harness.media.directory / "dfs-upload-streaming"
    streaming.write_bytes(b"partial")
    assert harness.runner.purge_expired() == 1
    assert harness.store.get_job(job_id) is None
    assert list(harness.media.directory.iterdir()) == [streaming]


def test_bad_media_fails_the_job_with_its_error_code(harness: Harness, fixtures: Path) -> None:
    job_id = harness.submit(fixtures / "corrupt.jpg")
    assert harness.runner.run(job_id) is JobStatus.FAILED
    job = harness.store.get_job(job_id)
    assert job is not None and job.error_code == "corrupt_media" and job.result is None
    assert job.media_path is None


def test_a_job_past_the_time_limit_fails_with_analysis_timeout(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    harness = Harness(job_settings(settings, tmp_path), with_time_limit(analyzer, 0.05))
    try:
        job_id = harness.submit(fixtures / "real_hdtf_2s.mp4")
        assert harness.runner.run(job_id) is JobStatus.FAILED
        job = harness.store.get_job(job_id)
        assert job is not None and job.error_code == "analysis_timeout" and job.result is None
        assert job.media_path is None and not list(harness.media.directory.iterdir())
    finally:
        harness.close()


def test_cancelling_a_running_job_stops_it(harness: Harness, fixtures: Path) -> None:
    job_id = harness.submit(fixtures / "two_people_2s.mp4")
    # Ask for the cancel from inside the analysis, as a DELETE during decoding would.
    analyze = harness.runner.analyzer.analyze

    def analyze_then_cancel(*args: object, **kwargs: object) -> object:
        harness.store.request_cancel(job_id)
        time.sleep(2.5)  # the lease keeper notices within 2 s
        return analyze(*args, **kwargs)  # type: ignore[arg-type]

    harness.runner.analyzer = type(
        "Cancelling", (), {"analyze": staticmethod(analyze_then_cancel)}
    )()  # type: ignore[assignment]
    assert harness.runner.run(job_id) is JobStatus.CANCELLED
    job = harness.store.get_job(job_id)
    assert job is not None and job.status == JobStatus.CANCELLED and job.result is None
    assert job.media_path is None


def test_recovery_reruns_a_job_whose_worker_vanished(harness: Harness, fixtures: Path) -> None:
    job_id = harness.submit(fixtures / "photo.jpg")
    assert harness.store.claim(job_id, "dead-worker", lease_s=0.5) is not None
    time.sleep(0.6)
    harness.runner.start(threads=1)
    assert harness.runner.recover() == 1
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (job := harness.store.get_job(job_id)) is not None and job.status == JobStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.attempts == 2


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [str(EXECUTABLE), "worker", "--config", str(REPO / "configs" / "default.yaml")],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


@pytest.mark.slow
def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings,
    tmp_path: Path,
    fixtures: Path,
    redis_namespace: str,
    receiver: ReceiverServer,
) -> None:
    """kill -9 a worker process during an analysis: another worker runs the job again; it
    succeeds exactly once, with exactly one webhook delivery."""
    configured = job_settings(
        settings, tmp_path, broker="redis", redis_url=REDIS_URL, namespace=redis_namespace
    )
    env = env_without_dfs(
        DFS_DATABASE__URL=configured.database.url,
        DFS_STORAGE__MEDIA_DIR=str(configured.storage.media_dir),
        DFS_QUEUE__BROKER="redis",
        DFS_QUEUE__REDIS_URL=REDIS_URL,
        DFS_QUEUE__NAMESPACE=redis_namespace,
        DFS_QUEUE__LEASE_S="4",
        DFS_QUEUE__RECOVERY_INTERVAL_S="1",
        DFS_WEBHOOKS__ALLOW_PRIVATE="true",
        DFS_MODEL__ONNX_CACHE_DIR=str(settings.model.onnx_cache_dir),
        OMP_WAIT_POLICY="PASSIVE",
    )
    store = JobStore(configured.database.url)
    media = MediaStore(configured.storage.media_dir)
    queue = JobQueue(configured.queue)
    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        copy = media.directory / "upload"
        shutil.copy(fixtures / "two_people_2s.mp4", copy)
        job = store.create_job(
            media_path=None,
            media_bytes=copy.stat().st_size,
            file_name="two_people_2s.mp4",
            # Many frames, so that the analysis is still running when the kill comes.
            options={"segments": 16, "frames_per_segment": 8},
            callback_url=receiver.receiver.url,
            keep_media=False,
            api_key_id=None,
            idempotency_key=None,
        )
        store.set_media_path(job.id, str(media.adopt(copy, job.id)))
        queue.enqueue(job.id)

        deadline = time.monotonic() + JOB_TIMEOUT_S
        while (row := store.get_job(job.id)) is not None and row.stage is None:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert row is not None and row.status == JobStatus.RUNNING
        first.send_signal(signal.SIGKILL)
        first.wait()

        second = start_worker(env, log)
        while (row := store.get_job(job.id)) is not None and row.status == JobStatus.RUNNING:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert row is not None and row.status == JobStatus.SUCCEEDED, row and row.error_message
        assert row.attempts == 2
        assert receiver.receiver.arrived.wait(30)
        time.sleep(3)  # room for a wrongly duplicated delivery to arrive
        assert len(receiver.receiver.deliveries) == 1
        assert len(store.deliveries(job.id)) == 1
        assert list(media.directory.iterdir()) == []
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
        queue.close()
        store.close()


def test_a_running_job_reports_its_stages_and_progress_as_they_move(
    harness: Harness, fixtures: Path
) -> None:
    job_id = harness.submit(
        fixtures / "two_people_2s.mp4", options={"segments": 16, "frames_per_segment": 4}
    )
    seen: list[tuple[str | None, float]] = []
    running = threading.Thread(target=harness.runner.run, args=(job_id,))
    running.start()
    while running.is_alive():
        job = harness.store.get_job(job_id)
        assert job is not None
        if job.status == JobStatus.RUNNING and (job.stage, job.progress) not in seen:
            seen.append((job.stage, job.progress))
        time.sleep(0.02)
    running.join()
    job = harness.store.get_job(job_id)
    assert job is not None and job.status == JobStatus.SUCCEEDED and job.progress == 1.0
    progress = [fraction for _, fraction in seen]
    assert progress == sorted(progress)
    # Written as it moves (at most every 0.5 s): several values inside the run, not 0 -> 1.
    assert len([p for p in progress if 0.0 < p < 1.0]) >= 2, seen
    assert {"decode", "detect"} <= {stage for stage, _ in seen}, seen
