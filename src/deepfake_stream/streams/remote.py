"""HTTP(S) sources, read by Python through the checked client rather than by FFmpeg: every
request (the source, each HLS playlist reload and segment, on whatever host) connects only to
an address resolved and checked at that moment, keeps the TLS name, and follows no redirect.
FFmpeg demuxes what is read here (PyAV file objects and io_open)."""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO
from urllib.parse import urlsplit

import av
import httpx

from ..errors import InvalidParametersError
from ..network import RefusedAddressError, checked_client

HTTP_SCHEMES = ("http", "https")
# Playlists FFmpeg's HLS demuxer reads; a file object has no MIME type FFmpeg could see.
HLS_CONTENT_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl")
HLS_SUFFIXES = (".m3u8", ".m3u")
USER_AGENT = "DeepfakeStream-Reader/1"
# FFmpeg's read buffer over a file object; it can seek back only within it.
IO_BUFFER_BYTES = 64 * 1024
INDEX_AT_END_HINT = (
    "the MP4's index (moov) is at its end, and the file is of unknown size or larger than "
    "limits.max_bytes, so it cannot be read from its start; serve it re-muxed with "
    "`ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4`"
)


class SourceError(Exception):
    """The source answered, but not with media this reader can take; `code` names the case."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _get(client: httpx.Client, url: str) -> httpx.Response:
    """GET `url`, streamed; refused addresses, redirects and errors raised as such."""
    try:
        response = client.send(client.build_request("GET", url), stream=True)
    except httpx.HTTPError as exc:
        if isinstance(exc.__cause__, RefusedAddressError):
            raise InvalidParametersError(str(exc.__cause__)) from exc
        raise SourceError("source_unreachable", f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return response
    response.close()
    if response.is_redirect:
        raise SourceError(
            "redirect_refused",
            f"{url} answers {response.status_code} with a redirect, "
            "which a stream reader does not follow: give the final URL",
        )
    raise SourceError("source_http_error", f"{url} answers HTTP {response.status_code}")


class RemoteFile(io.RawIOBase):
    """One HTTP(S) resource as a file object. One whose size is known and within
    `max_spool_bytes` is spooled to a temporary file as it is read, so that a demuxer may seek
    in it (an MP4 whose index is at its end); any other (a live stream) reads forward only."""

    def __init__(self, client: httpx.Client, url: str, max_spool_bytes: int) -> None:
        super().__init__()
        self.name = url  # FFmpeg resolves an HLS playlist's relative URLs against it
        self._response = _get(client, url)
        self.content_type = self._response.headers.get("content-type", "").split(";")[0].lower()
        length = self._response.headers.get("content-length")
        self.size = int(length) if length and length.isdigit() else None
        self._chunks: Iterator[bytes] = self._response.iter_bytes()
        self._spool: IO[bytes] | None = None
        if self.size is not None and self.size <= max_spool_bytes:
            self._spool = tempfile.TemporaryFile()
        self._spooled = 0  # bytes written to the spool
        self._ahead = b""  # forward only: bytes received and not yet read
        self._position = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._spool is not None

    @property
    def consumed(self) -> bool:
        """The whole resource has been received, and it cannot be seeked in."""
        return self._spool is None and self._ended and not self._ahead

    def tell(self) -> int:
        return self._position

    def _next_chunk(self) -> bytes:
        if self._ended:
            return b""
        try:
            chunk = next(self._chunks, b"")
        except httpx.HTTPError as exc:
            raise SourceError("source_unreachable", f"{type(exc).__name__}: {exc}") from exc
        self._ended = not chunk
        return chunk

    def read(self, size: int = -1) -> bytes:
        wanted = size if size >= 0 else sys.maxsize
        if self._spool is None:
            while len(self._ahead) < wanted and (chunk := self._next_chunk()):
                self._ahead += chunk
            data, self._ahead = self._ahead[:wanted], self._ahead[wanted:]
        else:
            self._spool.seek(self._spooled)
            while self._spooled < self._position + wanted and (chunk := self._next_chunk()):
                self._spool.write(chunk)
                self._spooled += len(chunk)
            self._spool.seek(self._position)
            data = self._spool.read(min(wanted, max(0, self._spooled - self._position)))
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self._spool is None or self.size is None:
            raise io.UnsupportedOperation("this source reads forward only")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            if self._spool is not None:
                self._spool.close()
        super().close()


@contextmanager
def http_source(
    url: str, allow_private: bool, max_spool_bytes: int, timeout_s: float
) -> Iterator[av.container.InputContainer]:
    """A container reading `url` (and, for HLS, every playlist and segment it names) through a
    checked client; the client and the source close with it (FFmpeg closes what it opened)."""
    client = checked_client(timeout_s, allow_private, {"user-agent": USER_AGENT})

    def open_remote(nested_url: str, flags: int = 0, options: object = None) -> RemoteFile:
        if nested_url.split("://", 1)[0].lower() not in HTTP_SCHEMES:
            raise SourceError("source_refused", f"{nested_url} is not an http(s) URL")
        return RemoteFile(client, nested_url, max_spool_bytes)

    try:
        with open_remote(url) as source:
            path = urlsplit(url).path.lower()
            is_hls = source.content_type in HLS_CONTENT_TYPES or path.endswith(HLS_SUFFIXES)
            container = av.open(
                source,
                mode="r",
                format="hls" if is_hls else None,
                # FFmpeg's HLS keep-alive reuses its own HTTP connection, which a file object
                # does not have (it aborts the process on an assertion); every request is new.
                options={"http_persistent": "0"} if is_hls else {},
                io_open=open_remote,
                timeout=timeout_s,
                buffer_size=IO_BUFFER_BYTES,
            )
            with container:
                # A forward-only MP4 whose index came only at its end: its samples are behind.
                if (
                    source.consumed
                    and source.tell() > IO_BUFFER_BYTES
                    and "mp4" in container.format.name
                ):
                    raise SourceError("index_at_end", INDEX_AT_END_HINT)
                yield container
    finally:
        client.close()
