"""Where a stream's alerts and state changes go beyond its own client: an in-process
broadcaster (watchers of a server-side reader subscribe to it), Redis pub/sub on a channel per
stream when streams.redis_url is set, and the stream's signed webhook when it has one."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from ..config import WebhookSettings
from ..delivery import Delivery, DeliveryScheduler
from ..network import (
    post_signed,
    webhook_client,
)
from .session import Event, EventBuffer

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "streams"


def channel_for(namespace: str, stream_id: str) -> str:
    return f"{namespace}:{CHANNEL_PREFIX}:{stream_id}"


# What a stream's callback_url receives: what a person's state became, alerts, and the end;
# not the scores of every frame nor heartbeats (watchers and Redis get those).
WEBHOOK_EVENTS = ("state", "alert", "ended")


class Broadcaster:
    """Fan-out of stream events: local subscribers, Redis pub/sub, webhooks."""

    def __init__(
        self,
        namespace: str,
        redis_url: str | None,
        webhooks: WebhookSettings,
        webhook_secret: Callable[[], str],
    ) -> None:
        self.namespace = namespace
        self._redis = None
        if redis_url is not None:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
        self._subscribers: dict[str, list[EventBuffer]] = {}
        self._lock = threading.Lock()
        self._webhooks = webhooks
        self._webhook_secret = webhook_secret
        self._senders = DeliveryScheduler(webhooks, threads=4, name="dfs-stream-hook")
        self._client = webhook_client(webhooks)

    def subscribe(self, stream_id: str, buffer: EventBuffer) -> None:
        with self._lock:
            self._subscribers.setdefault(stream_id, []).append(buffer)

    def unsubscribe(self, stream_id: str, buffer: EventBuffer) -> None:
        with self._lock:
            listeners = self._subscribers.get(stream_id, [])
            if buffer in listeners:
                listeners.remove(buffer)

    def publisher(self, stream_id: str, callback_url: str | None) -> Callable[[Event], None]:
        def publish(event: Event) -> None:
            with self._lock:
                listeners = list(self._subscribers.get(stream_id, []))
            for buffer in listeners:
                buffer.put(event)
            body = json.dumps(event, separators=(",", ":"))
            if self._redis is not None:
                self._redis.publish(channel_for(self.namespace, stream_id), body)
            if callback_url is not None and event["type"] in WEBHOOK_EVENTS:
                who = event.get("track_id", "stream")
                message_id = f"msg_{stream_id}_{event['type']}_{who}_{event['at']}"
                self._senders.submit(self._delivery(callback_url, message_id, body))

        return publish

    def _delivery(self, url: str, message_id: str, body: str) -> Delivery:
        def attempt(_number: int) -> None:
            post_signed(self._client, self._webhook_secret(), url, message_id, body)

        def on_end(delivered: bool, error: Exception | None) -> None:
            if not delivered:
                log.warning("stream webhook to %s not delivered: %s", url, error)

        return Delivery(url=url, attempt=attempt, on_end=on_end)

    def close(self) -> None:
        self._senders.close()  # deliveries waiting to retry give up
        self._client.close()
        if self._redis is not None:
            self._redis.close()
