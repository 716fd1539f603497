"""The loopback TLS relay for RTSPS and RTMPS sources, against a real TLS server with a
certificate of a throwaway CA (trustme): the name goes in SNI and is verified, the address is
the one checked once, and bytes cross both ways."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from deepfake_stream.streams.relay import TlsRelay
from deepfake_stream.streams.sources import pinned_source

NAME = "cam.example"


class EchoTlsServer:
    """A TLS server for NAME on 127.0.0.1 that answers each message upper-cased, and records
    the server name each client sent."""

    def __init__(self, ca: trustme.CA) -> None:
        self.server_names: list[str | None] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(NAME).configure_cert(context)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(raw,), daemon=True).start()

    def _echo(self, raw: socket.socket) -> None:
        try:
            with self._context.wrap_socket(raw, server_side=True) as tls:
                while data := tls.recv(4096):
                    tls.sendall(data.upper())
        except (OSError, ssl.SSLError):
            pass

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[EchoTlsServer]:
    echo = EchoTlsServer(ca)
    yield echo
    echo.close()


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _exchange(port: int, message: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(message)
        return plain.recv(4096)


def test_the_relay_carries_plain_bytes_over_tls_with_the_sources_name(
    ca: trustme.CA, server: EchoTlsServer
) -> None:
    relay = TlsRelay(NAME, "127.0.0.1", server.port, 5, 5, _client_context(ca))
    try:
        assert _exchange(relay.port, b"options rtsp://cam.example/live rtsp/1.0\r\n") == (
            b"OPTIONS RTSP://CAM.EXAMPLE/LIVE RTSP/1.0\r\n"
        )
        assert server.server_names == [NAME]
    finally:
        relay.close()


def test_a_certificate_for_another_name_is_refused(ca: trustme.CA, server: EchoTlsServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        TlsRelay("other.example", "127.0.0.1", server.port, 5, 5, _client_context(ca))


def test_an_rtsps_source_is_resolved_once_and_relayed_to_that_address(
    ca: trustme.CA, server: EchoTlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The system trust store, as the service would use it, holding the test CA.
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    real = socket.getaddrinfo
    lookups: list[str] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == NAME:  # answers loopback once, then nothing (a second lookup would fail)
            lookups.append(host)
            host = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = f"rtsps://user:pw@{NAME}:{server.port}/live?token=1"
    with pinned_source(url, allow_private=True, timeout_s=5, idle_timeout_s=5) as (opened, options):
        relay_port = int(opened.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
        assert opened == f"rtsp://user:pw@127.0.0.1:{relay_port}/live?token=1"
        assert options == {"rtsp_transport": "tcp"}
        assert _exchange(relay_port, b"describe\r\n") == b"DESCRIBE\r\n"
    assert lookups == [NAME] and server.server_names == [NAME]
