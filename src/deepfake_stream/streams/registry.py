"""The running streams of a process: capped in number, each a session fed by a WebSocket
client or a server-side reader."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..config import Settings
from ..errors import NotFoundError, TooManyStreamsError
from ..metrics import STREAMS_ACTIVE
from ..pipeline import Analyzer
from .broadcast import Broadcaster
from .ingest import StreamReader
from .session import StreamSession

log = logging.getLogger(__name__)


@dataclass
class RunningStream:
    session: StreamSession
    api_key_id: str | None
    callback_url: str | None
    reader: StreamReader | None = None
    created_at: float = field(default_factory=time.time)


class StreamRegistry:
    def __init__(self, analyzer: Analyzer, settings: Settings, broadcaster: Broadcaster) -> None:
        self.analyzer = analyzer
        self.settings = settings
        self.broadcaster = broadcaster
        self._streams: dict[str, RunningStream] = {}
        self._lock = threading.Lock()

    def _new(self, source: str, api_key_id: str | None, callback_url: str | None) -> RunningStream:
        with self._lock:
            if len(self._streams) >= self.settings.streams.max_concurrent:
                raise TooManyStreamsError(
                    f"{len(self._streams)} streams are running, the most this service takes; "
                    "try again when one ends"
                )
            stream_id = uuid.uuid4().hex
            session = StreamSession(
                stream_id,
                self.analyzer,
                self.settings.streams,
                source,
                publish=self.broadcaster.publisher(stream_id, callback_url),
            )
            running = RunningStream(session, api_key_id, callback_url)
            self._streams[stream_id] = running
            STREAMS_ACTIVE.inc()
        log.info("stream %s started (%s)", stream_id, source)
        return running

    def open_socket(self, api_key_id: str | None) -> RunningStream:
        """A stream fed by a WebSocket client."""
        return self._new("websocket", api_key_id, None)

    def start_reader(
        self, url: str, api_key_id: str | None, callback_url: str | None
    ) -> RunningStream:
        """A stream read by this process from a URL, until it ends or is stopped."""
        running = self._new(url, api_key_id, callback_url)
        stream_id = running.session.stream_id
        running.reader = StreamReader(
            url,
            running.session,
            on_end=lambda reason: self.stop(stream_id, reason),
            allow_private=self.settings.webhooks.allow_private,
            max_spool_bytes=self.settings.limits.max_bytes,
        )
        running.reader.start()
        return running

    def get(self, stream_id: str, api_key_id: str | None) -> RunningStream:
        with self._lock:
            running = self._streams.get(stream_id)
        # A key's own streams; an anonymous caller's, only those started without a key.
        if running is None or running.api_key_id != api_key_id:
            raise NotFoundError(f"no stream {stream_id}")
        return running

    def list(self, api_key_id: str | None) -> list[RunningStream]:
        with self._lock:
            return [s for s in self._streams.values() if s.api_key_id == api_key_id]

    def stop(self, stream_id: str, reason: str = "stopped") -> None:
        with self._lock:
            running = self._streams.pop(stream_id, None)
        if running is None:
            return
        STREAMS_ACTIVE.dec()
        if running.reader is not None:
            running.reader.stop()
        running.session.close(reason)
        log.info("stream %s ended: %s", stream_id, reason)

    def close(self) -> None:
        """Stop every stream, whoever's."""
        with self._lock:
            stream_ids = list(self._streams)
        for stream_id in stream_ids:
            self.stop(stream_id, "service stopping")
