"""The job store on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from deepfake_stream.database import utcnow
from deepfake_stream.jobs.store import DeliveryRow, JobStatus, JobStore, WebhookState
from deepfake_stream.metrics import JOB_STATES


def make_job(store: JobStore, **overrides: object) -> str:
    fields: dict[str, object] = {
        "media_path": "/nowhere",
        "media_bytes": 10,
        "file_name": "clip.mp4",
        "options": {"segments": 2},
        "callback_url": None,
        "keep_media": False,
        "api_key_id": None,
        "idempotency_key": None,
    }
    fields.update(overrides)
    return store.create_job(**fields).id  # type: ignore[arg-type]


@pytest.fixture
def store(database_url: str) -> Iterator[JobStore]:
    opened = JobStore(database_url)
    yield opened
    opened.close()


def test_only_one_worker_claims_a_job(store: JobStore) -> None:
    job_id = make_job(store)
    winners: list[str] = []

    def claim(worker: str) -> None:
        if store.claim(job_id, worker, lease_s=60) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    job = store.get_job(job_id)
    assert job is not None and job.status == JobStatus.RUNNING and job.worker == winners[0]
    assert job.attempts == 1


def test_a_lapsed_lease_passes_the_job_on_and_drops_the_first_outcome(store: JobStore) -> None:
    job_id = make_job(store)
    assert store.claim(job_id, "first", lease_s=1) is not None
    assert store.claim(job_id, "second", lease_s=60) is None  # the lease still holds
    time.sleep(1.2)
    assert [job.id for job in store.jobs_to_recover()] == [job_id]
    taken = store.claim(job_id, "second", lease_s=60)
    assert taken is not None and taken.attempts == 2
    # The first worker comes back to life: neither its renewal nor its result counts.
    assert not store.renew(job_id, "first", 60, "detect", 0.5)
    assert not store.finish(
        job_id, "first", JobStatus.SUCCEEDED, result={"verdict": "real"}, retention_days=1
    )
    assert store.finish(
        job_id, "second", JobStatus.SUCCEEDED, result={"verdict": "fake"}, retention_days=1
    )
    job = store.get_job(job_id)
    assert job is not None and job.result == {"verdict": "fake"} and job.progress == 1.0
    assert job.expires_at is not None and job.finished_at is not None
    assert timedelta(hours=23) < job.expires_at - job.finished_at <= timedelta(days=1)


def test_cancel_stops_queued_jobs_at_once_and_running_ones_at_their_next_renewal(
    store: JobStore,
) -> None:
    queued = make_job(store)
    cancelled = store.request_cancel(queued)
    assert cancelled is not None and cancelled.status == JobStatus.CANCELLED
    assert store.claim(queued, "w", 60) is None

    running = make_job(store)
    store.claim(running, "w", 60)
    asked = store.request_cancel(running)
    assert asked is not None and asked.status == JobStatus.RUNNING and asked.cancel_requested
    assert not store.renew(running, "w", 60, "detect", 0.5)
    assert store.mark_cancelled(running, "w", retention_days=1)
    job = store.get_job(running)
    assert job is not None and job.status == JobStatus.CANCELLED


def test_idempotency_keys_are_unique_per_api_key(store: JobStore) -> None:
    first = make_job(store, idempotency_key="order-1", api_key_id="k1")
    make_job(store, idempotency_key="order-1", api_key_id="k2")  # another key: its own
    with pytest.raises(IntegrityError):
        make_job(store, idempotency_key="order-1", api_key_id="k1")
    found = store.find_idempotent("k1", "order-1")
    assert found is not None and found.id == first
    assert store.find_idempotent(None, "order-1") is None


def test_listing_pages_filters_and_keeps_keys_apart(store: JobStore) -> None:
    mine = [make_job(store, api_key_id="k1") for _ in range(5)]
    theirs = make_job(store, api_key_id="k2")
    store.claim(mine[0], "w", 60)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_jobs(owner="k1", status=None, limit=2, cursor=cursor)
        seen.extend(job.id for job in page.jobs)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(mine) and len(seen) == 5
    assert seen == list(reversed(mine))  # newest first
    running = store.list_jobs(owner="k1", status=JobStatus.RUNNING, limit=10, cursor=None)
    assert [job.id for job in running.jobs] == [mine[0]]
    assert store.get_own_job(theirs, "k1") is None
    assert store.get_own_job(theirs, "k2") is not None
    # An anonymous caller owns only the jobs submitted without a key, not everyone's.
    anonymous = make_job(store, api_key_id=None)
    assert store.get_own_job(theirs, None) is None
    assert store.get_own_job(anonymous, None) is not None
    assert [j.id for j in store.list_jobs(owner=None, status=None, limit=10, cursor=None).jobs] == [
        anonymous
    ]
    assert store.count_by_status() == {"queued": 6, "running": 1}


def test_deleting_a_job_removes_its_delivery_records(store: JobStore) -> None:
    job_id = make_job(store, callback_url="https://example.org/hook")
    store.claim(job_id, "w", 60)
    store.finish(job_id, "w", JobStatus.FAILED, error=("corrupt_media", "bad"), retention_days=1)
    job = store.get_job(job_id)
    assert job is not None and job.webhook_state == WebhookState.PENDING
    assert store.claim_delivery(job_id, "w", 60) is not None
    assert store.claim_delivery(job_id, "other", 60) is None  # one sender at a time
    store.record_attempt(
        DeliveryRow(
            job_id=job_id,
            message_id="msg_1",
            attempt=1,
            url="https://example.org/hook",
            status_code=200,
            error=None,
            succeeded=True,
            duration_ms=3.0,
            attempted_at=utcnow(),
        )
    )
    store.end_delivery(job_id, "w", WebhookState.DELIVERED)
    assert len(store.deliveries(job_id)) == 1
    assert store.expired_jobs(utcnow()) == []
    assert [job.id for job in store.expired_jobs(utcnow() + timedelta(days=2))] == [job_id]
    store.delete_job(job_id)
    assert store.get_job(job_id) is None and store.deliveries(job_id) == []


def test_the_metrics_report_every_job_state() -> None:
    assert JOB_STATES == tuple(status.value for status in JobStatus)
