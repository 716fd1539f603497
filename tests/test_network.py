from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from deepfake_stream.errors import InvalidParametersError
from deepfake_stream.network import check_public_url, new_signing_secret, sign, verify


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
