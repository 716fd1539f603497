"""Webhooks: when a job ends, its callback_url is POSTed the job, signed (network.py), retried on
a schedule with backoff, every attempt recorded in the store."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError

from ..config import WebhookSettings
from ..database import utcnow
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


# At most this many attempts go to one destination (scheme, host and port) at once...
PER_DESTINATION_IN_FLIGHT = 2
# ...and after this many failures in a row, its deliveries wait BREAKER_OPEN_S (a breaker), so
# that a dead receiver costs one attempt per wait, not a thread for each of its deliveries.
BREAKER_FAILURES = 5
BREAKER_OPEN_S = 30.0
# A delivery held back by its destination's limit looks again after this long.
DESTINATION_RECHECK_S = 0.2


@dataclass
class _Delivery:
    job_id: str
    url: str
    destination: str  # scheme://host:port: what the limit and the breaker count by
    body: str
    message_id: str
    attempts: int  # made so far, by this process and earlier ones
    done: threading.Event = field(default_factory=threading.Event)
    state: WebhookState | None = None


@dataclass
class _Destination:
    in_flight: int = 0
    failures: int = 0  # in a row
    open_until: float = 0.0  # monotonic time the breaker closes again


class WebhookSender:
    """Delivers the webhooks of the jobs that a worker ends. One attempt at a time runs on a
    small pool; a retry is scheduled (one dispatcher thread reads the schedule), never slept
    in a pool thread; and each destination gets a limit on attempts in flight and a breaker.
    So a receiver that never answers costs its own deliveries time, and nobody else's: others'
    deliveries go out while its retries wait."""

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
        self._schedule: list[tuple[float, int, _Delivery]] = []  # (due, tie-break, delivery)
        self._order = itertools.count()
        self._destinations: dict[str, _Destination] = defaultdict(_Destination)
        self._changed = threading.Condition()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name="dfs-webhook-schedule", daemon=True
        )
        self._dispatcher.start()

    def submit(self, job_id: str) -> _Delivery | None:
        """Claim the job's delivery and schedule its next attempt now; None if there is none to
        make (no callback, or another worker is delivering it)."""
        job = self.store.claim_delivery(job_id, self.worker_id, self.lease_s)
        if job is None or job.callback_url is None:
            return None
        parts = urlsplit(job.callback_url)
        delivery = _Delivery(
            job_id=job.id,
            url=job.callback_url,
            destination=f"{parts.scheme}://{parts.hostname}:{parts.port or ''}",
            body=payload_for(job),
            message_id=f"msg_{job.id}",  # one id for every attempt: receivers drop duplicates
            attempts=len(self.store.deliveries(job_id)),
        )
        self._schedule_at(time.monotonic(), delivery)
        return delivery

    def deliver(self, job_id: str) -> WebhookState | None:
        """Deliver the job's webhook and wait for the outcome (None: nothing to deliver here,
        or this process stopped first and left it pending)."""
        delivery = self.submit(job_id)
        if delivery is None:
            return None
        while not delivery.done.wait(0.1):
            if self._closing.is_set():
                return None
        return delivery.state

    def close(self) -> None:
        """Stop: attempts in flight end (within timeout_s); deliveries still to retry stay
        pending, and a worker resumes them once this one's lease lapses."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        self._dispatcher.join(timeout=self.settings.timeout_s + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _schedule_at(self, due: float, delivery: _Delivery) -> None:
        with self._changed:
            heapq.heappush(self._schedule, (due, next(self._order), delivery))
            self._changed.notify_all()

    def _dispatch(self) -> None:
        with self._changed:
            while not self._closing.is_set():
                now = time.monotonic()
                if not self._schedule or self._schedule[0][0] > now:
                    wait = self._schedule[0][0] - now if self._schedule else None
                    self._changed.wait(wait)
                    continue
                _, _, delivery = heapq.heappop(self._schedule)
                destination = self._destinations[delivery.destination]
                if destination.open_until > now:  # the breaker is open: come back when it shuts
                    due = destination.open_until
                elif destination.in_flight >= PER_DESTINATION_IN_FLIGHT:
                    due = now + DESTINATION_RECHECK_S
                else:
                    destination.in_flight += 1
                    self._pool.submit(self._attempt_logged, delivery)
                    continue
                heapq.heappush(self._schedule, (due, next(self._order), delivery))

    def _attempt_logged(self, delivery: _Delivery) -> None:
        try:
            self._attempt_once(delivery)
        except Exception:  # a thread's error would vanish: log it; recovery retries later
            log.exception("webhook delivery for job %s failed", delivery.job_id)
        finally:
            with self._changed:
                self._destinations[delivery.destination].in_flight -= 1
                self._changed.notify_all()

    def _attempt_once(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        destination = self._destinations[delivery.destination]
        try:
            self._attempt(delivery, delivery.attempts)
        except PermanentDeliveryError as exc:
            log.warning("webhook for job %s not delivered: %s", delivery.job_id, exc)
            self._end(delivery, WebhookState.FAILED)
            return
        except DeliveryError as exc:
            with self._changed:
                destination.failures += 1
                if destination.failures >= BREAKER_FAILURES:
                    destination.open_until = time.monotonic() + BREAKER_OPEN_S
            if delivery.attempts >= self.settings.max_attempts:
                log.warning("webhook for job %s not delivered: %s", delivery.job_id, exc)
                self._end(delivery, WebhookState.FAILED)
                return
            delay = self._backoff(delivery.attempts)
            # The claim lasts until the next attempt has had its time.
            self.store.renew_delivery(delivery.job_id, self.worker_id, delay + self.lease_s)
            self._schedule_at(time.monotonic() + delay, delivery)
            return
        with self._changed:
            destination.failures = 0
        self._end(delivery, WebhookState.DELIVERED)

    def _backoff(self, attempts: int) -> float:
        """Exponential from initial_backoff_s, up to max_backoff_s, with jitter."""
        settings = self.settings
        base = settings.initial_backoff_s * 2.0 ** (attempts - 1)
        return min(settings.max_backoff_s, base) + random.uniform(0, settings.initial_backoff_s)

    def _end(self, delivery: _Delivery, state: WebhookState) -> None:
        self.store.end_delivery(delivery.job_id, self.worker_id, state)
        WEBHOOK_DELIVERIES.labels(state.value).inc()
        delivery.state = state
        delivery.done.set()

    def _attempt(self, delivery: _Delivery, number: int) -> None:
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = post_signed(
                self._client,
                self.secret,
                delivery.url,
                delivery.message_id,
                delivery.body,
                self.settings.allow_private,
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
