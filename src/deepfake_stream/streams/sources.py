"""The URLs a server-side reader may open, and how they are opened: light (no FFmpeg, no
model), so that an API front can check a URL without loading the stream stack."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..network import resolve_checked

SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")
# Schemes whose host is also the TLS name (SNI, certificate): their URL keeps its name.
TLS_SCHEMES = ("rtsps", "rtmps", "https")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


def pinned_source(url: str, allow_private: bool) -> tuple[str, dict[str, str]]:
    """The URL FFmpeg opens and its options: the host resolved once and checked
    (network.resolve_checked), and FFmpeg sent to that address, not to a second lookup that a
    rebinding DNS server could answer differently; HTTP redirects are not followed. A TLS URL
    keeps its name, which TLS needs; its address is checked just before it is opened."""
    parts = urlsplit(url)
    options = {"max_redirects": "0"} if parts.scheme in ("http", "https") else {}
    if parts.hostname is None:
        return url, options
    addresses = resolve_checked(
        parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 443), allow_private
    )
    if parts.scheme in TLS_SCHEMES:
        return url, options
    address = addresses[0]
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    if parts.scheme == "http":
        options["headers"] = f"Host: {parts.netloc}\r\n"
    return urlunsplit(parts._replace(netloc=netloc)), options
