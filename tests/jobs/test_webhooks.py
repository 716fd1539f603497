"""Webhooks: signatures a receiver can verify, retries against a real failing receiver, every
attempt recorded, and the SSRF guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfake_stream.config import WebhookSettings
from deepfake_stream.jobs.store import JobStatus, JobStore, WebhookState
from deepfake_stream.jobs.webhooks import WebhookSender
from deepfake_stream.network import verify
from support.processes import free_port
from support.receiver import ReceiverServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    yield opened
    opened.close()


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer()
    yield server
    server.close()


def ended_job(store: JobStore, callback_url: str) -> str:
    job = store.create_job(
        media_path=None,
        media_bytes=0,
        file_name="clip.mp4",
        options={},
        callback_url=callback_url,
        keep_media=False,
        api_key_id=None,
        idempotency_key=None,
    )
    store.claim(job.id, "w", 60)
    store.finish(job.id, "w", JobStatus.SUCCEEDED, result={"verdict": "fake"}, retention_days=1)
    return job.id


def fast_settings(**overrides: object) -> WebhookSettings:
    values: dict[str, object] = {
        "allow_private": True,
        "initial_backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "timeout_s": 5,
    }
    values.update(overrides)
    return WebhookSettings.model_validate(values)


def test_a_failing_receiver_is_retried_until_it_accepts(
    store: JobStore, receiver: ReceiverServer
) -> None:
    job_id = ended_job(store, receiver.receiver.url)
    receiver.receiver.fail_next = 2
    sender = WebhookSender(fast_settings(max_attempts=5), store, "w", lease_s=60)
    assert sender.deliver(job_id) is WebhookState.DELIVERED
    sender.close()

    deliveries = receiver.receiver.deliveries
    assert len(deliveries) == 3
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1  # one id: receivers dedupe
    payload = verify(sender.secret, deliveries[-1].body, deliveries[-1].headers)
    assert payload["type"] == "job.succeeded"
    data = payload["data"]
    assert isinstance(data, dict)
    assert data["id"] == job_id and data["result"] == {"verdict": "fake"}

    attempts = store.deliveries(job_id)
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [
        (1, 503, False),
        (2, 503, False),
        (3, 204, True),
    ]
    job = store.get_job(job_id)
    assert job is not None and job.webhook_state == WebhookState.DELIVERED


def test_a_receiver_that_never_answers_ends_failed_with_every_attempt_recorded(
    store: JobStore,
) -> None:
    port = free_port()  # nothing listens on it
    job_id = ended_job(store, f"http://127.0.0.1:{port}/hook")
    sender = WebhookSender(fast_settings(max_attempts=3), store, "w", lease_s=60)
    assert sender.deliver(job_id) is WebhookState.FAILED
    sender.close()
    attempts = store.deliveries(job_id)
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert all(a.status_code is None and a.error and "Connect" in a.error for a in attempts)


def test_a_private_callback_is_refused_at_delivery_without_retrying(
    store: JobStore, receiver: ReceiverServer
) -> None:
    job_id = ended_job(store, receiver.receiver.url)
    sender = WebhookSender(fast_settings(allow_private=False), store, "w", lease_s=60)
    assert sender.deliver(job_id) is WebhookState.FAILED
    sender.close()
    assert receiver.receiver.deliveries == []
    (attempt,) = store.deliveries(job_id)
    assert attempt.error is not None and "non-public" in attempt.error
