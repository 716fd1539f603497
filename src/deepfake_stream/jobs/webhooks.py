"""Webhooks: when a job ends, its callback_url is POSTed the job, signed (network.py), retried on
a schedule (delivery.py), every attempt recorded in the store."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from ..config import WebhookSettings
from ..database import utcnow
from ..delivery import Delivery, DeliveryScheduler
from ..metrics import WEBHOOK_DELIVERIES
from ..network import (
    DeliveryError,
    PermanentDeliveryError,
    post_signed,
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


@dataclass
class _JobDelivery:
    job_id: str
    url: str
    body: str
    message_id: str  # one id for every attempt: receivers drop duplicates
    done: threading.Event = field(default_factory=threading.Event)
    state: WebhookState | None = None


class WebhookSender:
    """Delivers the webhooks of the jobs that a worker ends, on the scheduled deliveries of
    delivery.py (retries on a schedule, per destination, behind a breaker), every attempt
    recorded in the store and the claim on the delivery kept up to its next attempt."""

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
        self._client = webhook_client(settings)
        self._scheduler = DeliveryScheduler(settings, threads, "dfs-webhook")

    def submit(self, job_id: str) -> _JobDelivery | None:
        """Claim the job's delivery and schedule its next attempt now; None if there is none to
        make (no callback, or another worker is delivering it)."""
        job = self.store.claim_delivery(job_id, self.worker_id, self.lease_s)
        if job is None or job.callback_url is None:
            return None
        delivery = _JobDelivery(job.id, job.callback_url, payload_for(job), f"msg_{job.id}")

        def renew(delay_s: float) -> None:
            self.store.renew_delivery(job_id, self.worker_id, delay_s + self.lease_s)

        self._scheduler.submit(
            Delivery(
                url=delivery.url,
                attempt=lambda number: self._attempt(delivery, number),
                on_end=lambda delivered, error: self._end(delivery, delivered, error),
                before_retry=renew,
                attempts=len(self.store.deliveries(job_id)),
            )
        )
        return delivery

    def deliver(self, job_id: str) -> WebhookState | None:
        """Deliver the job's webhook and wait for the outcome (None: nothing to deliver here,
        or this process stopped first and left it pending)."""
        delivery = self.submit(job_id)
        if delivery is None:
            return None
        while not delivery.done.wait(0.1):
            if self._scheduler.closing:
                return None
        return delivery.state

    def close(self) -> None:
        """Stop: attempts in flight end (within timeout_s); deliveries still to retry stay
        pending, and a worker resumes them once this one's lease lapses."""
        self._scheduler.close()
        self._client.close()

    def _end(self, delivery: _JobDelivery, delivered: bool, error: Exception | None) -> None:
        state = WebhookState.DELIVERED if delivered else WebhookState.FAILED
        if error is not None:
            log.warning("webhook for job %s not delivered: %s", delivery.job_id, error)
        self.store.end_delivery(delivery.job_id, self.worker_id, state)
        WEBHOOK_DELIVERIES.labels(state.value).inc()
        delivery.state = state
        delivery.done.set()

    def _attempt(self, delivery: _JobDelivery, number: int) -> None:
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = post_signed(
                self._client, self.secret, delivery.url, delivery.message_id, delivery.body
            )
        except (DeliveryError, PermanentDeliveryError) as exc:
            status, error = getattr(exc, "status_code", None), str(exc)
            raise
        finally:
            self._record(
                DeliveryRow(
                    job_id=delivery.job_id,
                    message_id=delivery.message_id,
                    attempt=number,
                    url=delivery.url,
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
