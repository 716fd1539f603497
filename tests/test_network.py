from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from deepfake_stream.errors import InvalidParametersError
from deepfake_stream.network import (
    check_public_url,
    checked_client,
    is_public,
    new_signing_secret,
    sign,
    verify,
)
from support.receiver import ReceiverServer, RedirectingServer


def test_signatures_verify_and_tampering_fails() -> None:
    secret = new_signing_secret()
    body = json.dumps({"type": "job.succeeded"})
    headers = sign(secret, "msg_1", datetime.now(UTC), body)
    assert verify(secret, body, headers) == {"type": "job.succeeded"}
    with pytest.raises(WebhookVerificationError):
        verify(secret, body.replace("succeeded", "failed"), headers)
    with pytest.raises(WebhookVerificationError):
        verify(new_signing_secret(), body, headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        # IPv6 forms that carry a private IPv4 address: NAT64, 6to4, IPv4-compatible, Teredo.
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b:1::a00:1]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[::7f00:1]/hook",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    ],
)
def test_ssrf_guard_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(InvalidParametersError, match="non-public"):
        check_public_url(url, allow_private=False)
    check_public_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "http:///nohost", "http://u:p@8.8.8.8/"]
)
def test_ssrf_guard_refuses_other_schemes_and_credentials(url: str) -> None:
    with pytest.raises(InvalidParametersError):
        check_public_url(url, allow_private=True)


def test_ssrf_guard_accepts_public_addresses() -> None:
    check_public_url("https://8.8.8.8/hook", allow_private=False)


def test_public_ipv6_forms_that_embed_public_ipv4_stay_public() -> None:
    assert is_public("64:ff9b::808:808")  # NAT64 of 8.8.8.8
    assert is_public("2002:808:808::1")  # 6to4 of 8.8.8.8
    assert is_public("2606:4700:4700::1111")
    assert not is_public("64:ff9b::a00:1")  # NAT64 of 10.0.0.1


@contextmanager
def _rebinding(monkeypatch: pytest.MonkeyPatch, first: str) -> Iterator[list[str]]:
    """A resolver whose every name answers `first` once, then 127.0.0.1 (DNS rebinding)."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
            return real(host, port, *args, **kwargs)  # an address: nothing to resolve
        except ValueError:
            address = first if not answers else "127.0.0.1"
            answers.append(address)
            return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    yield answers


def test_a_rebinding_host_never_reaches_the_private_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ReceiverServer()
    port = urlsplit(server.receiver.url).port
    url = f"http://rebind.example:{port}/hook"
    try:
        with _rebinding(monkeypatch, "8.8.8.8") as answers:
            check_public_url(url, allow_private=False)  # checked: public
            with checked_client(5.0, allow_private=False) as client:
                with pytest.raises(httpx.ConnectError, match="non-public"):
                    client.post(url, content=b"{}")
            assert answers == ["8.8.8.8", "127.0.0.1"]
        assert server.receiver.deliveries == []  # nothing reached the private receiver
        # The same resolver without the pinning client: the second lookup is what connects.
        with _rebinding(monkeypatch, "127.0.0.1"):
            with checked_client(5.0, allow_private=True) as client:
                assert client.post(url, content=b"{}").status_code == 204
        assert len(server.receiver.deliveries) == 1
    finally:
        server.close()


def test_the_checked_client_follows_no_redirect() -> None:
    server = RedirectingServer()
    try:
        with checked_client(5.0, allow_private=True) as client:
            response = client.get(f"{server.url}/redirect")
        assert response.status_code == 302
        assert server.hits == {"/redirect": 1}  # the target was never asked for
    finally:
        server.close()
