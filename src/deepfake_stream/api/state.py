"""What the running service holds: the analyzer (loaded once, in the background) and the
admission gate that bounds concurrent and queued analyses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from ..config import Settings
from ..errors import BusyError, DeepfakeStreamError, NotReadyError
from ..pipeline import Analyzer

log = logging.getLogger(__name__)


class AdmissionGate:
    """At most max_concurrent analyses run; at most max_queued more wait; the rest get 503."""

    def __init__(self, max_concurrent: int, max_queued: int) -> None:
        self._running = anyio.Semaphore(max_concurrent)
        self._capacity = max_concurrent + max_queued
        self._admitted = 0

    @property
    def admitted(self) -> int:
        return self._admitted

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a place in line from upload to answer."""
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
        self.gate = AdmissionGate(settings.server.max_concurrent, settings.server.max_queued)

    async def load(self) -> None:
        """Load the models in a worker thread so that /healthz answers meanwhile."""
        if self.analyzer is not None:
            return
        try:
            self.analyzer = await anyio.to_thread.run_sync(Analyzer, self.settings)
            log.info("model loaded: %s", self.analyzer.model.weights_name)
        except DeepfakeStreamError as exc:
            self.load_error = exc.message
            log.error("model failed to load: %s", exc.message)
        except Exception as exc:  # a broken install must show in /readyz, not kill silently
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("model failed to load")

    def ready_analyzer(self) -> Analyzer:
        if self.analyzer is not None:
            return self.analyzer
        if self.load_error is not None:
            raise NotReadyError(f"the model failed to load: {self.load_error}")
        raise NotReadyError("the model is still loading; retry shortly")
