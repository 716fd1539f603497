"""The running streams of a process: capped, each visible to its own key, and ended once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deepfake_stream.config import Settings, WebhookSettings
from deepfake_stream.errors import NotFoundError, TooManyStreamsError
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.streams.broadcast import Broadcaster
from deepfake_stream.streams.registry import StreamRegistry


def _registry(settings: Settings, analyzer: Analyzer, most: int) -> StreamRegistry:
    capped = settings.model_copy(
        update={"streams": settings.streams.model_copy(update={"max_concurrent": most})}
    )
    return StreamRegistry(analyzer, capped, Broadcaster("dfs", None, WebhookSettings(), str))


def test_streams_are_capped_and_each_key_sees_only_its_own(
    settings: Settings, analyzer: Analyzer
) -> None:
    registry = _registry(settings, analyzer, most=2)
    mine = registry.open_socket("k1")
    theirs = registry.open_socket("k2")
    with pytest.raises(TooManyStreamsError):
        registry.open_socket("k1")
    stream_id = mine.session.stream_id
    assert registry.get(stream_id, "k1") is mine
    for other in ("k2", None):  # another key, or an anonymous caller (auth off), sees nothing
        with pytest.raises(NotFoundError):
            registry.get(stream_id, other)
    assert registry.list(None) == []
    assert [s.session.stream_id for s in registry.list("k2")] == [theirs.session.stream_id]
    registry.stop(stream_id, "the client closed the stream")
    registry.stop(stream_id, "again")  # ended once: nothing more happens
    events = []
    while (event := mine.session.events.get(timeout=1)) is not None:
        events.append(event)
    assert [e["reason"] for e in events if e["type"] == "ended"] == ["the client closed the stream"]
    again = registry.open_socket("k1")  # a place is free again
    registry.close()  # stops every stream, keyed ones included
    assert registry.list("k1") == registry.list("k2") == []
    assert again.session.events.get(timeout=5) is not None


def test_a_reader_plays_a_file_then_leaves_the_registry(
    settings: Settings, analyzer: Analyzer, fixtures: Path
) -> None:
    registry = _registry(settings, analyzer, most=1)
    running = registry.start_reader(str(fixtures / "fake_dfdc_2s.mp4"), None, None)
    deadline = time.monotonic() + 60
    while registry.list(None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert registry.list(None) == []
    events = []
    while (event := running.session.events.get(timeout=1)) is not None:
        events.append(event)
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "source ended"
    assert events[-1]["frames_analysed"] >= 1
