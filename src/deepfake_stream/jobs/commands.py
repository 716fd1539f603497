"""`deepfake-stream worker`: run queued jobs until told to stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from ..config import Settings
from ..errors import ConfigError
from ..metrics import JOBS_COLLECTOR
from ..model_card import build_model_card
from .store import JobStore

log = logging.getLogger(__name__)


def run_worker(settings: Settings, threads: int | None) -> None:
    """Run jobs from the Redis queue until SIGTERM or SIGINT; running jobs finish first."""
    from ..pipeline import Analyzer
    from .queue import JobQueue
    from .storage import MediaStore
    from .worker import JobRunner

    if settings.queue.broker != "redis":
        raise ConfigError(
            "`worker` runs jobs from the Redis queue: set queue.broker: redis (the embedded "
            "broker runs jobs inside `serve`)"
        )
    from ..detection.engine import check_devices

    check_devices(settings.model)  # a GPU worker without its GPU stops now, with exit code 3
    stop = threading.Event()

    def on_signal(number: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing running jobs, then stopping", number)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.queue.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.queue.metrics_port)
    analyzer = Analyzer(settings)
    store = JobStore(settings.database.url)
    queue = JobQueue(settings.queue)
    JOBS_COLLECTOR.watch(store.count_by_status, queue.depth)
    runner = JobRunner(settings, analyzer, store, MediaStore(settings.storage.media_dir), queue)
    card = build_model_card(analyzer)
    store.publish_model_card(card.weights_sha256, card.model_dump(mode="json"), runner.worker_id)
    try:
        runner.start(threads or settings.queue.worker_threads)
        runner.recover()
        stop.wait()
    finally:
        runner.close()
        store.close()
        analyzer.close()
