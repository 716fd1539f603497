"""API keys: created by `deepfake-stream keys create`, stored as SHA-256 hashes, sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`, each with scopes and a rate limit."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..config import Settings
from ..database import ApiKeyRow, Database, utcnow
from ..errors import ForbiddenError, RateLimitedError, UnauthorizedError

KEY_PREFIX = "dfs"
KEY_ID_BYTES = 6  # public part, shown by `keys list`
KEY_SECRET_BYTES = 32
KEY_ID = re.compile(rf"[0-9a-f]{{{2 * KEY_ID_BYTES}}}")
DEFAULT_RATE_PER_MINUTE = 60


class Scope(StrEnum):
    ANALYZE = "analyze"  # POST /v1/analyze
    JOBS_READ = "jobs:read"  # GET /v1/jobs...
    JOBS_WRITE = "jobs:write"  # POST and DELETE /v1/jobs...


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class Caller:
    key_id: str | None  # None: anonymous, when auth is off and no key was sent
    scopes: frozenset[Scope]


ANONYMOUS = Caller(key_id=None, scopes=ALL_SCOPES)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    store: Database, name: str, scopes: frozenset[Scope], rate_per_minute: int
) -> tuple[ApiKeyRow, str]:
    """A new key; returns its row and the key itself, which is shown once and never stored."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    row = ApiKeyRow(
        id=key_id,
        name=name,
        secret_sha256=_hash(secret),
        scopes=sorted(scopes),
        rate_per_minute=rate_per_minute,
        created_at=utcnow(),
    )
    store.add_key(row)
    return row, f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_key(presented: str) -> tuple[str, str] | None:
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not KEY_ID.fullmatch(key_id) or not secret:
        return None  # (only a key's own form reaches the database)
    return key_id, secret


class Authenticator:
    """Checks presented keys and their per-key rate limits (in memory, or in Redis when the
    API runs as several pods on the Redis broker, so that the limit holds across them)."""

    def __init__(self, settings: Settings, store: Database) -> None:
        self.required = settings.auth.required
        self.store = store
        storage_url = settings.queue.redis_url if settings.queue.broker == "redis" else "memory://"
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    def authenticate(self, presented: str | None) -> Caller:
        if presented is None:
            if self.required:
                raise UnauthorizedError(
                    "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
                )
            return ANONYMOUS
        parsed = parse_key(presented)
        row = self.store.get_key(parsed[0]) if parsed else None
        if (
            parsed is None
            or row is None
            or not hmac.compare_digest(row.secret_sha256, _hash(parsed[1]))
        ):
            raise UnauthorizedError("unknown API key")
        if row.revoked_at is not None:
            raise UnauthorizedError("this API key has been revoked")
        self._check_rate(row)
        return Caller(key_id=row.id, scopes=frozenset(Scope(s) for s in row.scopes))

    def _check_rate(self, row: ApiKeyRow) -> None:
        limit = RateLimitItemPerMinute(row.rate_per_minute)
        if self._limiter.hit(limit, row.id):
            return
        reset_at = self._limiter.get_window_stats(limit, row.id).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimitedError(
            f"rate limit of {row.rate_per_minute} requests per minute reached", retry_after
        )


def require_scope(caller: Caller, scope: Scope) -> None:
    if scope not in caller.scopes:
        raise ForbiddenError(f"this API key lacks the scope {scope.value!r}")
