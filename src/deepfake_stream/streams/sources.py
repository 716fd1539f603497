"""The URLs a server-side reader may open, and how FFmpeg is sent to RTSP and RTMP ones: light
(no FFmpeg, no model), so that an API front can check a URL without loading the stream stack.
HTTP(S) sources are read by Python instead (remote.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from ..network import resolve_checked
from .relay import TlsRelay

SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
# TLS schemes and the plain one FFmpeg speaks to the relay that does their TLS.
PLAIN_SCHEMES = {"rtsps": "rtsp", "rtmps": "rtmp"}


@contextmanager
def pinned_source(
    url: str, allow_private: bool, timeout_s: float, idle_timeout_s: float
) -> Iterator[tuple[str, dict[str, str]]]:
    """The RTSP or RTMP URL FFmpeg opens and its options: the host resolved once and checked
    (network.resolve_checked), and FFmpeg sent to that address, not to a second lookup that a
    rebinding DNS server could answer differently. RTSPS and RTMPS go through a TlsRelay to
    that address; it lives as long as the context."""
    parts = urlsplit(url)
    if parts.hostname is None:
        yield url, {}
        return
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    address = resolve_checked(parts.hostname, port, allow_private)[0]
    credentials = parts.netloc.rpartition("@")[0]
    plain = PLAIN_SCHEMES.get(parts.scheme)
    if plain is None:
        host = f"[{address}]" if ":" in address else address
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
        yield urlunsplit(parts._replace(netloc=_with(credentials, netloc))), {}
        return
    relay = TlsRelay(parts.hostname, address, port, timeout_s, idle_timeout_s)
    try:
        netloc = _with(credentials, f"127.0.0.1:{relay.port}")
        # RTSP's default UDP transport cannot cross a TCP relay.
        options = {"rtsp_transport": "tcp"} if plain == "rtsp" else {}
        yield urlunsplit(parts._replace(scheme=plain, netloc=netloc)), options
    finally:
        relay.close()


def _with(credentials: str, netloc: str) -> str:
    return f"{credentials}@{netloc}" if credentials else netloc
