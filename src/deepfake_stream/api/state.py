"""What the running service holds: the analyzer (loaded once, in the background), the admission
gate that bounds concurrent and queued analyses, the job store, queue and media, API keys, and,
in the embedded mode, the job runner."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from ..config import Settings
from ..errors import BusyError, DeepfakeStreamError, NotReadyError
from ..jobs.queue import JobQueue
from ..jobs.storage import MediaStore
from ..jobs.store import JobStore
from ..metrics import JOBS_COLLECTOR
from .auth import Authenticator

if TYPE_CHECKING:  # PyTorch loads only in processes that analyse (not the job API front)
    from ..jobs.worker import JobRunner
    from ..pipeline import Analyzer
    from ..streams.registry import StreamRegistry

log = logging.getLogger(__name__)


class AdmissionGate:
    """At most max_concurrent analyses run; at most max_queued more wait; the rest get 503.
    A request is admitted only once its upload is complete, so that slow uploads hold no
    place; uploads themselves are capped per key (uploads_per_key), so that one caller's
    sockets cannot crowd out another's."""

    def __init__(self, max_concurrent: int, max_queued: int, uploads_per_key: int) -> None:
        self._running = anyio.Semaphore(max_concurrent)
        self._capacity = max_concurrent + max_queued
        self._admitted = 0
        self._uploads_per_key = uploads_per_key
        self._uploading: Counter[str | None] = Counter()

    @asynccontextmanager
    async def uploading(self, key_id: str | None) -> AsyncIterator[None]:
        """Hold one of the caller's upload places (anonymous callers share one set)."""
        if self._uploading[key_id] >= self._uploads_per_key:
            raise BusyError(
                f"{self._uploading[key_id]} uploads of this caller are in progress; "
                "try again when one has ended"
            )
        self._uploading[key_id] += 1
        try:
            yield
        finally:
            self._uploading[key_id] -= 1

    @property
    def admitted(self) -> int:
        return self._admitted

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a place in line until the answer."""
        if self._admitted >= self._capacity:
            raise BusyError(f"{self._admitted} requests are in progress; try again shortly")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Hold one of the analysis slots."""
        async with self._running:
            yield


class ServiceState:
    def __init__(self, settings: Settings, analyzer: Analyzer | None = None) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.load_error: str | None = None
        self.gate = AdmissionGate(
            settings.server.max_concurrent,
            settings.server.max_queued,
            settings.server.uploads_per_key,
        )
        self.store: JobStore | None = None
        self.media: MediaStore | None = None
        self.queue: JobQueue | None = None
        self.auth: Authenticator | None = None
        self.runner: JobRunner | None = None
        self.streams: StreamRegistry | None = None

    def open_jobs(self) -> None:
        """Open the job store (migrating it), the media store and the queue."""
        self.store = JobStore(self.settings.database.url)
        self.media = MediaStore(self.settings.storage.media_dir)
        self.queue = JobQueue(self.settings.queue)
        self.auth = Authenticator(self.settings, self.store)
        JOBS_COLLECTOR.watch(self.store.count_by_status, self.queue.depth)
        if not self.settings.auth.required:
            log.warning(
                "auth.required is off: anyone who reaches this service may use it "
                "(create keys with `deepfake-stream keys create` and set DFS_AUTH__REQUIRED=true)"
            )

    def _stream_registry(self, analyzer: Analyzer, store: JobStore) -> StreamRegistry:
        from ..network import signing_secret
        from ..streams.broadcast import Broadcaster
        from ..streams.registry import StreamRegistry

        broadcaster = Broadcaster(
            self.settings.queue.namespace,
            self.settings.streams.redis_url,
            self.settings.webhooks,
            lambda: signing_secret(self.settings.webhooks, store),
        )
        return StreamRegistry(analyzer, self.settings, broadcaster)

    def ready_streams(self) -> StreamRegistry:
        if self.streams is not None:
            return self.streams
        if not self.analyzes_in_process:
            raise NotReadyError(
                "live streams run where the model runs: this API front (queue.broker: redis) "
                "has none; send streams to a `serve` with queue.broker: embedded"
            )
        self.ready_analyzer()  # raises: still loading, or failed
        raise NotReadyError("streams are starting; retry shortly")

    def close_jobs(self) -> None:
        if self.streams is not None:
            self.streams.close()
            self.streams.broadcaster.close()
        if self.runner is not None:
            self.runner.close()
        elif self.queue is not None:
            self.queue.close()
        if self.store is not None:
            self.store.close()

    @property
    def analyzes_in_process(self) -> bool:
        """Embedded mode: this process loads the model, analyses and runs the jobs. With the
        Redis broker it is a light front (no PyTorch): the workers do every analysis."""
        return self.settings.queue.broker == "embedded"

    async def load(self) -> None:
        """Embedded mode: load the models in a worker thread so that /healthz answers
        meanwhile, then start running jobs."""
        if not self.analyzes_in_process:
            return
        from ..jobs.worker import JobRunner
        from ..pipeline import Analyzer

        if self.analyzer is None:
            try:
                self.analyzer = await anyio.to_thread.run_sync(Analyzer, self.settings)
                log.info("model loaded: %s", self.analyzer.model.weights_name)
            except DeepfakeStreamError as exc:
                # The message names files on this server (the weights' path): the log has it,
                # and every client of /readyz and /v1 gets the code.
                self.load_error = f"{exc.code}; see the service log"
                log.error("model failed to load: %s", exc.message)
                return
            except Exception as exc:  # a broken install must show in /readyz, not kill silently
                self.load_error = f"{type(exc).__name__}; see the service log"
                log.exception("model failed to load")
                return
        if self.store is not None:
            assert self.media is not None and self.queue is not None
            self.runner = JobRunner(
                self.settings, self.analyzer, self.store, self.media, self.queue
            )
            self.runner.start(self.settings.queue.worker_threads)
            self.streams = self._stream_registry(self.analyzer, self.store)
            waiting = await anyio.to_thread.run_sync(self.runner.requeue_waiting)
            if waiting:
                log.info("resumed %d queued job(s)", waiting)

    def check_dependencies(self) -> None:
        """NotReadyError unless the job database and the queue's broker answer."""
        store, _, queue = self.jobs()
        for name, ping in (("job database", store.ping), ("queue broker", queue.ping)):
            try:
                ping()
            except Exception as exc:
                raise NotReadyError(f"the {name} cannot be reached: {type(exc).__name__}") from exc

    def jobs(self) -> tuple[JobStore, MediaStore, JobQueue]:
        assert self.store is not None and self.media is not None and self.queue is not None
        return self.store, self.media, self.queue

    def ready_analyzer(self) -> Analyzer:
        if self.analyzer is not None:
            return self.analyzer
        if self.load_error is not None:
            raise NotReadyError(f"the model failed to load: {self.load_error}")
        raise NotReadyError("the model is still loading; retry shortly")
