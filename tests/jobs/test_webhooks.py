"""Webhooks: signatures a receiver can verify, retries against a real failing receiver, every
attempt recorded, and the SSRF guard."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class HangingReceiver:
    """A receiver that accepts connections and never answers in time."""

    def __init__(self, hang_s: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                time.sleep(hang_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_one_tenants_dead_receiver_does_not_hold_back_anyone_elses(
    store: JobStore, receiver: ReceiverServer
) -> None:
    hanging = HangingReceiver(hang_s=3.0)
    settings = fast_settings(timeout_s=0.5, initial_backoff_s=0.5, max_backoff_s=1.0)
    sender = WebhookSender(settings, store, "w", lease_s=60, threads=4)
    try:
        stuck = [ended_job(store, hanging.url) for _ in range(12)]
        for job_id in stuck:
            sender.submit(job_id)
        time.sleep(0.2)  # the dead receiver's attempts are under way
        began = time.monotonic()
        good = ended_job(store, receiver.receiver.url)
        delivery = sender.submit(good)
        assert delivery is not None and delivery.done.wait(5)
        assert delivery.state is WebhookState.DELIVERED
        assert time.monotonic() - began < 2.0
        assert [a.attempt for a in store.deliveries(good)] == [1]
        # The dead receiver never had more than its share of attempts at once, and its
        # retries are scheduled: none of the 12 is given up on yet.
        time.sleep(1.5)
        attempts = [len(store.deliveries(job_id)) for job_id in stuck]
        assert 1 <= sum(attempts) <= 12
        states = {job.webhook_state for job in map(store.get_job, stuck) if job is not None}
        assert states == {WebhookState.PENDING}
    finally:
        sender.close()
        hanging.close()
