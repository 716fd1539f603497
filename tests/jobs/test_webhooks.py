"""Webhooks: signatures a receiver can verify, retries against a real failing receiver, every
attempt recorded, and the SSRF guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from deepfake_stream.config import WebhookSettings
from deepfake_stream.errors import InvalidParametersError
from deepfake_stream.jobs.store import JobStatus, JobStore, WebhookState
from deepfake_stream.jobs.webhooks import (
    WebhookSender,
    check_public_url,
    new_signing_secret,
    sign,
    verify,
)
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


def test_signatures_verify_and_tampering_fails() -> None:
    secret = new_signing_secret()
    body = json.dumps({"type": "job.succeeded"})
    headers = sign(secret, "msg_1", datetime.now(UTC), body)
    assert verify(secret, body, headers) == {"type": "job.succeeded"}
    with pytest.raises(WebhookVerificationError):
        verify(secret, body.replace("succeeded", "failed"), headers)
    with pytest.raises(WebhookVerificationError):
        verify(new_signing_secret(), body, headers)


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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_ssrf_guard_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(InvalidParametersError, match="non-public"):
        check_public_url(url, allow_private=False)
    check_public_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "http:///nohost", "http://u:p@8.8.8.8/"]
)
def test_ssrf_guard_refuses_other_schemes_and_credentials(url: str) -> None:
    with pytest.raises(InvalidParametersError):
        check_public_url(url, allow_private=True)


def test_ssrf_guard_accepts_public_addresses() -> None:
    check_public_url("https://8.8.8.8/hook", allow_private=False)
