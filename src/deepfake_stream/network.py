"""Outgoing HTTP that every feature shares: the SSRF guard on URLs the caller gives, the pinned
client that connects only to checked addresses, and signed deliveries (Standard Webhooks:
webhook-id, webhook-timestamp, webhook-signature, HMAC-SHA256). Jobs' webhooks and streams'
webhooks both post through here, retried on the schedule of delivery.py."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .config import WebhookSettings
from .database import Database
from .errors import InvalidParametersError
from .metrics import WEBHOOK_ATTEMPTS

USER_AGENT = "DeepfakeStream-Webhooks/1"
# A delivery's response body is not read beyond this (it is not used, only recorded).
MAX_ERROR_CHARS = 500
# Callback URL schemes accepted.
ALLOWED_SCHEMES = ("http", "https")


class DeliveryError(Exception):
    """An attempt failed in a way worth retrying (no answer, 5xx, 429...)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PermanentDeliveryError(Exception):
    """An attempt failed in a way that retrying cannot mend (the URL became private)."""


# IPv6 prefixes whose last 32 bits are an IPv4 address that the packet reaches: NAT64 (well-known
# and local-use) and the deprecated IPv4-compatible form.
IPV4_EMBEDDING_PREFIXES = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in prefix for prefix in IPV4_EMBEDDING_PREFIXES):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(address: str) -> bool:
    """A globally routable unicast address, and so is every IPv4 address it embeds."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    reached: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        reached.extend(embedded_ipv4(ip))
    return all(a.is_global and not a.is_multicast for a in reached)


def resolve_checked(host: str, port: int, allow_private: bool, field: str = "url") -> list[str]:
    """The addresses `host` resolves to, each one public unless allow_private: resolved once,
    so that the address checked is the address connected to (no DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidParametersError(f"{field} host does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    private = sorted(a for a in addresses if not is_public(a))
    if private and not allow_private:
        raise InvalidParametersError(
            f"{field} resolves to a non-public address ({', '.join(private)}); "
            "set webhooks.allow_private to allow it"
        )
    return addresses


class RefusedAddressError(httpcore.ConnectError):
    """The host does not resolve, or resolves to an address the guard refuses: no retry mends
    that (httpx raises its ConnectError from this one)."""


class CheckedBackend(httpcore.NetworkBackend):
    """httpx's connections, made only to addresses resolved and checked here. TLS still
    verifies and sends the host's name: only the TCP connection is pinned."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_checked(host, port, self.allow_private)
        except InvalidParametersError as exc:
            raise RefusedAddressError(exc.message) from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return self._sockets.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = httpcore.ConnectError(f"{address}: {exc}")
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("outgoing requests go to URLs, not to local sockets")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


def checked_client(
    timeout_s: float, allow_private: bool, headers: dict[str, str] | None = None
) -> httpx.Client:
    """An httpx client for URLs that callers give: connections pinned to checked addresses,
    no redirects (one could lead anywhere), no proxy from the environment."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # the pool httpx builds, with the checked backend
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=CheckedBackend(allow_private),
    )
    return httpx.Client(
        transport=transport,
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    )


def check_public_url(
    url: str,
    allow_private: bool,
    field: str = "callback_url",
    schemes: tuple[str, ...] = ALLOWED_SCHEMES,
) -> None:
    """Refuse URLs that are not http(s), or whose host resolves to a private, loopback,
    link-local or otherwise non-public address (SSRF), unless allow_private. `field` names the
    URL in the error."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError as exc:
        raise InvalidParametersError(f"{field} is not a valid URL: {exc}") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidParametersError(
            f"{field} must be an absolute URL: {', '.join(s + '://' for s in schemes)}"
        )
    if parts.username or parts.password:
        raise InvalidParametersError(f"{field} must not carry credentials")
    if allow_private:
        return  # any host will do; one that does not resolve fails at delivery, recorded
    # The port does not change what the host resolves to. Callers connect through
    # checked_client (or pin the address themselves), which checks again what they reach.
    resolve_checked(parts.hostname, parts.port or 443, allow_private, field)


def sign(secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for a body."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }


def verify(secret: str, body: bytes | str, headers: dict[str, str]) -> dict[str, object]:
    """For receivers: check a delivery's signature and age; the parsed payload, or
    WebhookVerificationError."""
    payload = Webhook(secret).verify(body, headers)
    if not isinstance(payload, dict):
        raise WebhookVerificationError("payload is not a JSON object")
    return payload


def webhook_client(settings: WebhookSettings) -> httpx.Client:
    return checked_client(settings.timeout_s, settings.allow_private, {"user-agent": USER_AGENT})


def post_signed(client: httpx.Client, secret: str, url: str, message_id: str, body: str) -> int:
    """One signed delivery attempt through a checked_client (webhook_client), counted in the
    metrics: the receiver's status code, or DeliveryError (worth retrying) or
    PermanentDeliveryError (the host now resolves to a refused address, or not at all: the
    client checks the address it connects to, so DNS that changed since is caught there)."""
    succeeded = False
    try:
        headers = sign(secret, message_id, datetime.now(UTC), body)
        headers["content-type"] = "application/json"
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, RefusedAddressError):
                raise PermanentDeliveryError(str(exc.__cause__)) from exc
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(
                f"HTTP {response.status_code}: {response.text[:MAX_ERROR_CHARS]}",
                response.status_code,
            )
        succeeded = True
        return response.status_code
    finally:
        WEBHOOK_ATTEMPTS.labels("succeeded" if succeeded else "failed").inc()


SECRET_NAME = "webhook_signing_secret"
SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secret(settings: WebhookSettings, database: Database) -> str:
    """The secret webhooks are signed with: the configured one, else the one the database keeps
    (made on first use, so that every process of a deployment signs alike)."""
    if settings.secret is not None:
        return settings.secret.get_secret_value()
    return database.secret(SECRET_NAME, new_signing_secret)
