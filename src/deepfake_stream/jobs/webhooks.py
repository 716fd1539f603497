"""Webhooks: when a job ends, its callback_url is POSTed the job, signed and retried through
network.py, every attempt recorded in the store; and the signing secret deployments share."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import IntegrityError
from tenacity import (
    RetryCallState,
)

from ..config import WebhookSettings
from ..database import utcnow
from ..metrics import WEBHOOK_DELIVERIES
from ..network import (
    DeliveryError,
    PermanentDeliveryError,
    post_signed,
    retrying,
    signing_secret,
    webhook_client,
)
from .store import DeliveryRow, JobRow, JobStore, WebhookState
from .views import job_view

log = logging.getLogger(__name__)


def payload_for(job: JobRow) -> str:
    return json.dumps(
        {
            "type": f"job.{job.status}",
            "timestamp": utcnow().isoformat(),
            "data": job_view(job).model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


class WebhookSender:
    """Delivers the webhooks of the jobs that a worker ends, on threads of its own so that a
    slow receiver never holds an analysis slot."""

    def __init__(
        self,
        settings: WebhookSettings,
        store: JobStore,
        worker_id: str,
        lease_s: float,
        threads: int = 4,
    ) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.secret = signing_secret(settings, store)
        self._closing = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dfs-webhook")
        self._client = webhook_client(settings)

    def submit(self, job_id: str) -> None:
        self._pool.submit(self._deliver_logged, job_id)

    def close(self) -> None:
        """Stop: attempts in flight end (within timeout_s); deliveries still to retry stay
        pending, and a worker resumes them once this one's lease lapses."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _deliver_logged(self, job_id: str) -> None:
        try:
            self.deliver(job_id)
        except Exception:  # a thread's error would vanish: log it; recovery retries later
            log.exception("webhook delivery for job %s failed", job_id)

    def deliver(self, job_id: str) -> WebhookState | None:
        """Deliver the job's webhook, retrying; None if another worker is delivering it."""
        job = self.store.claim_delivery(job_id, self.worker_id, self.lease_s)
        if job is None or job.callback_url is None:
            return None
        url = job.callback_url
        body = payload_for(job)
        # One id for every attempt, so that a receiver can drop duplicates.
        message_id = f"msg_{job.id}"
        done_before = len(self.store.deliveries(job_id))

        def keep_lease(_state: RetryCallState) -> None:
            self.store.renew_delivery(
                job_id, self.worker_id, self.lease_s + self.settings.max_backoff_s
            )

        attempts = retrying(
            self.settings,
            self.settings.max_attempts - done_before,
            self._closing,
            before_sleep=keep_lease,
        )
        state = WebhookState.FAILED
        try:
            for attempt in attempts:
                with attempt:
                    self._attempt(
                        job_id,
                        url,
                        message_id,
                        body,
                        done_before + attempt.retry_state.attempt_number,
                    )
            state = WebhookState.DELIVERED
        except (DeliveryError, PermanentDeliveryError) as exc:
            if self._closing.is_set() and isinstance(exc, DeliveryError):
                log.info("webhook for job %s left pending: this process is stopping", job_id)
                return None
            log.warning("webhook for job %s not delivered: %s", job_id, exc)
        self.store.end_delivery(job_id, self.worker_id, state)
        WEBHOOK_DELIVERIES.labels(state.value).inc()
        return state

    def _attempt(self, job_id: str, url: str, message_id: str, body: str, number: int) -> None:
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = post_signed(
                self._client, self.secret, url, message_id, body, self.settings.allow_private
            )
        except (DeliveryError, PermanentDeliveryError) as exc:
            status, error = getattr(exc, "status_code", None), str(exc)
            raise
        finally:
            self._record(
                DeliveryRow(
                    job_id=job_id,
                    message_id=message_id,
                    attempt=number,
                    url=url,
                    status_code=status,
                    error=error,
                    succeeded=error is None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    attempted_at=utcnow(),
                )
            )

    def _record(self, attempt: DeliveryRow) -> None:
        try:
            self.store.record_attempt(attempt)
        except IntegrityError as exc:  # the job was deleted meanwhile: nothing left to tell
            raise PermanentDeliveryError("the job was deleted") from exc
