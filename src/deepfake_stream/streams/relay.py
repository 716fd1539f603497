"""A loopback relay for RTSPS and RTMPS sources. FFmpeg cannot be told to connect to one
address while speaking TLS with another name (it sends no SNI to an IP address), so it would
look the name up again, and a rebinding DNS server could answer with a private address. The
relay does the TLS, with the source's name (SNI, certificate check), over a TCP connection to
the address checked once; FFmpeg speaks plain RTSP or RTMP to the relay's loopback port."""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from contextlib import suppress

CHUNK_BYTES = 64 * 1024


class TlsRelay:
    """One connection: accepted once on 127.0.0.1, carried both ways until either side ends,
    or nothing moves for `idle_timeout_s`."""

    def __init__(
        self,
        server_name: str,
        address: str,
        port: int,
        timeout_s: float,
        idle_timeout_s: float,
        context: ssl.SSLContext | None = None,
    ) -> None:
        # TLS is set up before FFmpeg is started, so that a bad certificate is reported as such.
        tcp = socket.create_connection((address, port), timeout=timeout_s)
        try:
            context = context or ssl.create_default_context()
            self._upstream = context.wrap_socket(tcp, server_hostname=server_name)
        except BaseException:
            tcp.close()
            raise
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(timeout_s)
        self.port: int = self._listener.getsockname()[1]
        self._idle_timeout_s = idle_timeout_s
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dfs-tls-relay", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            local, _ = self._listener.accept()
        except OSError:
            self.close()
            return
        finally:
            self._listener.close()
        local.settimeout(self._idle_timeout_s)
        self._upstream.settimeout(self._idle_timeout_s)
        with local, selectors.DefaultSelector() as selector:
            selector.register(local, selectors.EVENT_READ, self._upstream)
            selector.register(self._upstream, selectors.EVENT_READ, local)
            try:
                while not self._closed.is_set():
                    ready = selector.select(self._idle_timeout_s)
                    if not ready or not all(self._carry(k.fileobj, k.data) for k, _ in ready):
                        break
            except (OSError, ValueError):  # closed by close() from the reader's thread
                pass
        self.close()

    def _carry(self, source: object, target: socket.socket) -> bool:
        """Move what `source` has to `target`; False once either side is done."""
        assert isinstance(source, socket.socket)
        source.settimeout(0)  # readable may mean TLS housekeeping only (a session ticket)
        try:
            data = source.recv(CHUNK_BYTES)
            # Decrypted bytes may wait inside the TLS object, where select cannot see them.
            while data and isinstance(source, ssl.SSLSocket) and source.pending():
                data += source.recv(source.pending())
            if not data:
                return False
            target.sendall(data)
        except ssl.SSLWantReadError:
            return True
        except OSError:  # ssl.SSLError included
            return False
        finally:
            with suppress(OSError):  # closed meanwhile by close()
                source.settimeout(self._idle_timeout_s)
        return True

    def close(self) -> None:
        self._closed.set()
        for sock in (self._listener, self._upstream):
            try:
                sock.close()
            except OSError:
                pass
