"""Server-side readers: RTSP, RTMP, HLS, HTTP(S) URLs or local files, decoded with PyAV and
offered to a session frame by frame, their sound (when the voice branch is on) as 16 kHz mono.
A file (or any source with a known duration) is played as if live, at its own pace; a live
source is read as fast as it arrives."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import av

from ..audio.decode import SAMPLE_RATE
from ..config import LimitSettings
from ..errors import InvalidParametersError
from ..media import VideoPicture, upright_rotation
from .remote import HTTP_SCHEMES, SourceError, http_source
from .session import StreamSession
from .sources import SCHEMES, pinned_source

log = logging.getLogger(__name__)

# How long opening a source or waiting for its next packet may take (seconds).
OPEN_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 30.0
DEFAULT_SPOOL_BYTES = LimitSettings().max_bytes


class StreamReader:
    """Reads a source on its own thread into a session until the source ends or stop()."""

    def __init__(
        self,
        source: str | Path,
        session: StreamSession,
        on_end: Callable[[str], None],
        as_live: bool | None = None,
        allow_private: bool = True,
        max_spool_bytes: int = DEFAULT_SPOOL_BYTES,
    ) -> None:
        self.source = source
        # A URL a caller gave is pinned and checked when opened; the operator's own sources
        # (the watch command, files) are not.
        self.allow_private = allow_private
        # An HTTP(S) file of known size up to this is kept on disk as it is read, so that it can
        # be seeked in (limits.max_bytes, the largest upload).
        self.max_spool_bytes = max_spool_bytes
        self.session = session
        self._on_end = on_end
        self._as_live = as_live
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dfs-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=READ_TIMEOUT_S)

    def _run(self) -> None:
        reason = "source ended"
        try:
            self._read()
        except (av.FFmpegError, SourceError, OSError) as exc:  # OSError: TLS, connections
            reason = f"source error: {exc}"
            log.warning("stream %s: %s", self.session.stream_id, reason)
        except InvalidParametersError as exc:  # the source now resolves to a private address
            reason = f"source refused: {exc.message}"
            log.warning("stream %s: %s", self.session.stream_id, reason)
        except Exception as exc:  # the reader must end the session, whatever happened
            reason = f"reader failed: {type(exc).__name__}: {exc}"
            log.exception("stream %s: reader failed", self.session.stream_id)
        if self._stop.is_set():
            reason = "stopped"
        self._on_end(reason)

    def _open(self, stack: ExitStack) -> av.container.InputContainer:
        source = self.source
        scheme = urlsplit(source).scheme if isinstance(source, str) else ""
        if scheme in HTTP_SCHEMES:
            return stack.enter_context(
                http_source(str(source), self.allow_private, self.max_spool_bytes, READ_TIMEOUT_S)
            )
        url, options = str(source), dict[str, str]()
        if scheme in SCHEMES:
            url, options = stack.enter_context(
                pinned_source(url, self.allow_private, OPEN_TIMEOUT_S, READ_TIMEOUT_S)
            )
        return stack.enter_context(
            av.open(url, mode="r", options=options, timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
        )

    def _read(self) -> None:
        with ExitStack() as stack:
            container = self._open(stack)
            video = container.streams.video[0] if container.streams.video else None
            # The sound is heard as the WebSocket's PCM1 messages are: 16 kHz mono, in time.
            audio = (
                container.streams.audio[0]
                if container.streams.audio and self.session.hears_voice
                else None
            )
            if video is None and audio is None:
                what = "no video" if self.session.hears_voice else "no video (the voice is off)"
                raise SourceError("no_media", f"the source holds {what}")
            if video is not None:
                video.thread_type = "AUTO"
            resampler = (
                None
                if audio is None
                else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            )
            # Files play at their own pace; live sources (no duration) as they come.
            paced = self._as_live if self._as_live is not None else container.duration is not None
            started = time.monotonic()
            first: float | None = None
            for frame in container.decode(*(s for s in (video, audio) if s is not None)):
                if self._stop.is_set():
                    return
                if not isinstance(frame, av.VideoFrame | av.AudioFrame) or frame.time is None:
                    continue
                first = frame.time if first is None else first
                time_s = frame.time - first
                if paced:
                    ahead = time_s - (time.monotonic() - started)
                    if ahead > 0 and self._stop.wait(ahead):
                        return
                if isinstance(frame, av.AudioFrame):
                    assert resampler is not None
                    for sound in resampler.resample(frame):
                        self.session.offer_audio(time_s, sound.to_ndarray().reshape(-1))
                    continue
                rotation = upright_rotation(frame.rotation)
                self.session.offer(time_s, partial(VideoPicture, frame, rotation))
