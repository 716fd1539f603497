"""Scheduled deliveries, shared by job webhooks and stream webhooks: one attempt at a time
on a small pool, each retry scheduled with exponential backoff and jitter (one dispatcher thread
reads the schedule; no pool thread ever sleeps), at most a few attempts in flight for each
destination, and a breaker that holds a failing destination's deliveries for a while. A
receiver that never answers thus costs its own deliveries time, and nobody else's."""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .config import WebhookSettings
from .network import DeliveryError, PermanentDeliveryError

log = logging.getLogger(__name__)

# At most this many attempts go to one destination (scheme, host and port) at once...
PER_DESTINATION_IN_FLIGHT = 2
# ...and after this many failures in a row, its deliveries wait BREAKER_OPEN_S.
BREAKER_FAILURES = 5
BREAKER_OPEN_S = 30.0
# A delivery held back by its destination's limit looks again after this long.
DESTINATION_RECHECK_S = 0.2


def destination_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


@dataclass
class Delivery:
    """What the scheduler needs of a delivery: where it goes, one attempt (numbered from 1;
    DeliveryError: worth another, PermanentDeliveryError: not), and what to do at the end
    (True: delivered) and before each retry (told the delay)."""

    url: str
    attempt: Callable[[int], None]
    on_end: Callable[[bool, Exception | None], None]
    before_retry: Callable[[float], None] = lambda _delay: None
    attempts: int = 0  # made so far, earlier processes' included

    @property
    def destination(self) -> str:
        return destination_of(self.url)


@dataclass
class _Destination:
    in_flight: int = 0
    failures: int = 0  # in a row
    open_until: float = 0.0  # monotonic time the breaker closes again


@dataclass(order=True)
class _Due:
    at: float
    order: int
    delivery: Delivery = field(compare=False)


class DeliveryScheduler:
    def __init__(self, settings: WebhookSettings, threads: int, name: str) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._schedule: list[_Due] = []
        self._order = itertools.count()
        self._destinations: dict[str, _Destination] = defaultdict(_Destination)
        self._changed = threading.Condition()
        self._closing = threading.Event()
        self._dispatcher = threading.Thread(
            target=self._dispatch, name=f"{name}-schedule", daemon=True
        )
        self._dispatcher.start()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def submit(self, delivery: Delivery, delay_s: float = 0.0) -> None:
        with self._changed:
            due = _Due(time.monotonic() + delay_s, next(self._order), delivery)
            heapq.heappush(self._schedule, due)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop: attempts in flight end (within the attempt timeout); scheduled ones are
        dropped (their owners keep what they need to resume them)."""
        self._closing.set()
        with self._changed:
            self._changed.notify_all()
        self._dispatcher.join(timeout=self.settings.timeout_s + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _dispatch(self) -> None:
        with self._changed:
            while not self._closing.is_set():
                now = time.monotonic()
                if not self._schedule or self._schedule[0].at > now:
                    self._changed.wait(self._schedule[0].at - now if self._schedule else None)
                    continue
                due = heapq.heappop(self._schedule)
                destination = self._destinations[due.delivery.destination]
                if destination.open_until > now:  # the breaker is open until then
                    due.at = destination.open_until
                elif destination.in_flight >= PER_DESTINATION_IN_FLIGHT:
                    due.at = now + DESTINATION_RECHECK_S
                else:
                    destination.in_flight += 1
                    self._pool.submit(self._run, due.delivery)
                    continue
                heapq.heappush(self._schedule, due)

    def _run(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        except Exception:  # a thread's error would vanish: log it
            log.exception("delivery to %s failed", delivery.destination)
        finally:
            with self._changed:
                self._destinations[delivery.destination].in_flight -= 1
                self._changed.notify_all()

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        destination = self._destinations[delivery.destination]
        try:
            delivery.attempt(delivery.attempts)
        except PermanentDeliveryError as exc:
            delivery.on_end(False, exc)
            return
        except DeliveryError as exc:
            with self._changed:
                destination.failures += 1
                if destination.failures >= BREAKER_FAILURES:
                    destination.open_until = time.monotonic() + BREAKER_OPEN_S
            if self.closing:  # left to its owner, who keeps what resuming it needs
                return
            if delivery.attempts >= self.settings.max_attempts:
                delivery.on_end(False, exc)
                return
            delay = self.backoff(delivery.attempts)
            delivery.before_retry(delay)
            self.submit(delivery, delay)
            return
        with self._changed:
            destination.failures = 0
        delivery.on_end(True, None)

    def backoff(self, attempts: int) -> float:
        """Exponential from initial_backoff_s, up to max_backoff_s, with jitter."""
        settings = self.settings
        base = settings.initial_backoff_s * 2.0 ** (attempts - 1)
        return min(settings.max_backoff_s, base) + random.uniform(0, settings.initial_backoff_s)
