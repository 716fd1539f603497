"""The request guard, in the ASGI layer in front of every route: a request that carries a body
is authenticated before any of its body is read, its body is refused with 413 once it passes
the route's limit (at once when Content-Length says so), and a client that sends its body too
slowly is cut off with 408. Without it, a body is read whole (into memory, for JSON) before a
route's dependencies, the key check included, ever run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import ServerSettings
from ..errors import DeepfakeStreamError
from .auth import Authenticator
from .errors import error_response, service_error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A multipart upload carries its boundaries and form fields besides the file.
MULTIPART_OVERHEAD_BYTES = 1 << 20


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The API key of `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any."""
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return api_key or None


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        server: ServerSettings,
        upload_limit: int,
        authenticator: Callable[[], Authenticator | None],
    ) -> None:
        self.app = app
        self.server = server
        self.upload_limit = upload_limit + MULTIPART_OVERHEAD_BYTES
        self.authenticator = authenticator  # the state's, once the lifespan has opened it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        authenticator = self.authenticator()
        if authenticator is not None:
            try:
                caller = await anyio.to_thread.run_sync(
                    authenticator.authenticate, presented_key(headers)
                )
            except DeepfakeStreamError as exc:
                await service_error_response(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = caller
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = (
            self.upload_limit
            if content_type.startswith("multipart/form-data")
            else self.server.max_body_bytes
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        await self.app(scope, self._guarded(receive, limit), send)

    def _guarded(self, receive: Receive, limit: int) -> Receive:
        """receive(), counting the body against `limit` and holding the client to the read
        timeout and, past the grace period, to the minimum average rate."""
        started = time.monotonic()
        received = 0
        server = self.server

        async def guarded() -> Message:
            nonlocal received
            try:
                with anyio.fail_after(server.body_read_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, _slow(server)) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request body is over {limit} bytes")
                elapsed = time.monotonic() - started
                if (
                    message.get("more_body", False)
                    and elapsed > server.body_rate_grace_s
                    and received / elapsed < server.min_body_bytes_per_s
                ):
                    raise HTTPException(408, _slow(server))
            return message

        return guarded


def _slow(server: ServerSettings) -> str:
    return (
        f"the request body arrived too slowly (at least {server.min_body_bytes_per_s} bytes/s "
        f"after {server.body_rate_grace_s:g} s, and no pause over "
        f"{server.body_read_timeout_s:g} s)"
    )


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "body_too_large", f"the request body is over {limit} bytes")
