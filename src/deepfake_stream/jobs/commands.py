"""The job commands of the CLI: `worker`, `keys create|list|revoke`, `webhooks secret`."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from ..config import Settings
from ..errors import ConfigError
from ..metrics import JOBS_COLLECTOR
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
    JOBS_COLLECTOR.watch(store, queue)
    runner = JobRunner(settings, analyzer, store, MediaStore(settings.storage.media_dir), queue)
    from ..api.routes.model import build_model_card

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


def create_key(settings: Settings, name: str, scopes: list[str], rate_per_minute: int) -> str:
    from ..api.auth import Scope
    from ..api.auth import create_key as make

    store = JobStore(settings.database.url)
    try:
        row, key = make(store, name, frozenset(Scope(s) for s in scopes), rate_per_minute)
    finally:
        store.close()
    return (
        f"{key}\n(id {row.id}, scopes {', '.join(row.scopes)}, {rate_per_minute}/min; "
        "the key is shown only now: store it)"
    )


def list_keys(settings: Settings) -> list[list[str]]:
    store = JobStore(settings.database.url)
    try:
        return [
            [
                key.id,
                key.name,
                ",".join(key.scopes),
                str(key.rate_per_minute),
                key.created_at.isoformat(timespec="seconds"),
                key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
            ]
            for key in store.list_keys()
        ]
    finally:
        store.close()


def revoke_key(settings: Settings, key_id: str) -> bool:
    store = JobStore(settings.database.url)
    try:
        return store.revoke_key(key_id)
    finally:
        store.close()


def webhook_secret(settings: Settings) -> str:
    from .webhooks import signing_secret

    if settings.webhooks.secret is not None:  # no database to open
        return settings.webhooks.secret.get_secret_value()
    store = JobStore(settings.database.url)
    try:
        return signing_secret(settings.webhooks, store)
    finally:
        store.close()
