"""Stream events fanned out: in-process watchers, Redis pub/sub and signed webhooks (state
changes, alerts, the end),
each to a real receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from deepfake_stream.config import WebhookSettings
from deepfake_stream.network import new_signing_secret, verify
from deepfake_stream.streams.broadcast import Broadcaster, channel_for
from deepfake_stream.streams.session import Counters, EventBuffer
from support.receiver import ReceiverServer

SECRET = new_signing_secret()
WEBHOOKS = WebhookSettings(allow_private=True, max_attempts=3, initial_backoff_s=0.05)


def _event(kind: str, **fields: object) -> dict[str, object]:
    return {"type": kind, "stream": "s1", "at": 1.0, **fields}


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    server = ReceiverServer()
    yield server
    server.close()


def test_watchers_of_a_stream_get_its_events_until_they_leave() -> None:
    broadcaster = Broadcaster("dfs", None, WEBHOOKS, lambda: SECRET)
    mine, other = EventBuffer(8, Counters()), EventBuffer(8, Counters())
    broadcaster.subscribe("s1", mine)
    broadcaster.subscribe("s2", other)
    publish = broadcaster.publisher("s1", None)
    publish(_event("state", state="fake"))
    broadcaster.unsubscribe("s1", mine)
    publish(_event("ended", reason="done"))
    broadcaster.close()
    assert mine.get(timeout=0) == _event("state", state="fake")
    assert mine.get(timeout=0) is None  # left before the end
    assert other.get(timeout=0) is None  # another stream's watcher hears nothing


def test_state_changes_alerts_and_the_end_go_to_the_streams_webhook_signed(
    receiver: ReceiverServer,
) -> None:
    broadcaster = Broadcaster("dfs", None, WEBHOOKS, lambda: SECRET)
    receiver.receiver.fail_next = 1  # the first attempt fails: it is retried
    publish = broadcaster.publisher("s1", receiver.receiver.url)
    state = _event("state", track_id=0, state="fake")
    alert = _event("alert", track_id=0, rule="threshold", score=0.93, message="person 0: fake")
    ended = _event("ended", reason="source ended", at=2.0)
    publish(_event("scores", people=[]))  # every frame's scores: not for the webhook
    publish(_event("heartbeat"))
    for event in (state, alert, ended):
        publish(event)
    try:
        deadline = time.monotonic() + 30
        while len(receiver.receiver.deliveries) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        broadcaster.close()
    deliveries = receiver.receiver.deliveries
    assert len(deliveries) == 4  # one failure retried, then each of the three once
    received = [verify(SECRET, d.body, d.headers) for d in deliveries]
    assert sorted(received[1:], key=lambda e: str(e["type"])) == [alert, ended, state]
    ids = [d.headers["webhook-id"] for d in deliveries]
    assert len(set(ids)) == 3 and ids[0] in ids[1:]  # the retry kept its message id


def test_events_are_published_on_the_streams_redis_channel(redis_namespace: str) -> None:
    import redis

    from conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    pubsub.subscribe(channel_for(redis_namespace, "s1"))
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    broadcaster = Broadcaster(redis_namespace, REDIS_URL, WEBHOOKS, lambda: SECRET)
    try:
        broadcaster.publisher("s1", None)(_event("state", state="real"))
        message = pubsub.get_message(timeout=5)
        assert message is not None and json.loads(message["data"]) == _event("state", state="real")
    finally:
        broadcaster.close()
        pubsub.close()
        client.close()
