"""The job queue: Dramatiq, on Redis for scale-out workers or on its in-memory stub broker for
the embedded default. Messages carry only a job id; the store holds everything else.

Why Dramatiq: its actors are plain functions (our analysis is synchronous, CPU-bound code), its
Redis broker acknowledges a message only after the actor returns and hands the messages of a
worker whose heartbeats stopped back to the queue, and the same actor runs unchanged on its stub
broker inside the API process, so `make serve` needs no Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import RedisError

from ..config import QueueSettings
from ..errors import BrokerUnavailableError

log = logging.getLogger(__name__)

QUEUE_NAME = "analysis"
ACTOR_NAME = "analyze_job"
# The store's lease, not Dramatiq's time limit, decides when a job has run too long to be alive;
# Dramatiq's limit only has to stay out of the way of a long (15 min) video.
ACTOR_TIME_LIMIT_MS = 6 * 3600 * 1000
# Redis broker: how long (ms) without heartbeats before a worker counts as dead and its
# unacknowledged messages go back to the queue; and how often (per million broker commands)
# that check runs.
HEARTBEAT_TIMEOUT_MS = 60_000
MAINTENANCE_CHANCE = 50_000
# Seconds a consumer waits for messages before polling again.
CONSUMER_IDLE_TIMEOUT_MS = 1000

JobHandler = Callable[[str], object]


class JobQueue:
    """Send job ids; run a handler for each one received (worker processes and the embedded
    mode)."""

    def __init__(self, settings: QueueSettings) -> None:
        self.settings = settings
        self.broker: dramatiq.Broker
        if settings.broker == "redis":
            self.broker = RedisBroker(  # type: ignore[no-untyped-call]
                url=settings.redis_url,
                namespace=settings.namespace,
                heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
                maintenance_chance=MAINTENANCE_CHANCE,
            )
        else:
            self.broker = StubBroker()
        self._handler: JobHandler | None = None
        self._worker: dramatiq.Worker | None = None

        def analyze_job(job_id: str) -> None:
            if self._handler is None:  # a sender-only queue never consumes
                raise RuntimeError("this process does not run jobs")
            self._handler(job_id)

        self._actor = dramatiq.actor(
            broker=self.broker,
            actor_name=ACTOR_NAME,
            queue_name=QUEUE_NAME,
            max_retries=0,  # failures are recorded on the job; crashes are recovered by lease
            time_limit=ACTOR_TIME_LIMIT_MS,
        )(analyze_job)

    def enqueue(self, job_id: str) -> None:
        try:
            self._actor.send(job_id)
        except (RedisError, dramatiq.errors.DramatiqError) as exc:
            raise _unreachable(exc) from exc

    def depth(self) -> int:
        """Messages waiting (not yet taken by a worker)."""
        if isinstance(self.broker, RedisBroker):
            return int(self.broker.client.llen(f"{self.settings.namespace}:{QUEUE_NAME}"))
        assert isinstance(self.broker, StubBroker)
        return int(self.broker.queues[QUEUE_NAME].qsize())

    def ping(self) -> None:
        """BrokerUnavailableError if the broker cannot be reached (the embedded one can)."""
        if isinstance(self.broker, RedisBroker):
            try:
                self.broker.client.ping()
            except RedisError as exc:
                raise _unreachable(exc) from exc

    def start(self, handler: JobHandler, threads: int) -> None:
        """Consume: run handler(job_id) on `threads` threads until close()."""
        self._handler = handler
        self._worker = dramatiq.Worker(
            self.broker,
            queues={QUEUE_NAME},
            worker_threads=threads,
            worker_timeout=CONSUMER_IDLE_TIMEOUT_MS,
        )
        self._worker.start()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.broker.close()


def _unreachable(exc: Exception) -> BrokerUnavailableError:
    return BrokerUnavailableError(
        f"the job queue cannot be reached ({type(exc).__name__}); try again shortly"
    )
