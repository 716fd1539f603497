"""The administration commands of the CLI: `keys create|list|revoke` and `webhooks secret`,
on the service database."""

from __future__ import annotations

from .api.auth import Scope
from .api.auth import create_key as make_key
from .config import Settings
from .database import Database
from .network import signing_secret


def create_key(settings: Settings, name: str, scopes: list[str], rate_per_minute: int) -> str:
    database = Database(settings.database.url)
    try:
        row, key = make_key(database, name, frozenset(Scope(s) for s in scopes), rate_per_minute)
    finally:
        database.close()
    return (
        f"{key}\n(id {row.id}, scopes {', '.join(row.scopes)}, {rate_per_minute}/min; "
        "the key is shown only now: store it)"
    )


def list_keys(settings: Settings) -> list[list[str]]:
    database = Database(settings.database.url)
    try:
        return [
            [
                key.id,
                key.name,
                ",".join(key.scopes),
                str(key.rate_per_minute),
                key.created_at.isoformat(timespec="seconds"),
                key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
            ]
            for key in database.list_keys()
        ]
    finally:
        database.close()


def revoke_key(settings: Settings, key_id: str) -> bool:
    database = Database(settings.database.url)
    try:
        return database.revoke_key(key_id)
    finally:
        database.close()


def webhook_secret(settings: Settings) -> str:
    if settings.webhooks.secret is not None:  # no database to open
        return settings.webhooks.secret.get_secret_value()
    database = Database(settings.database.url)
    try:
        return signing_secret(settings.webhooks, database)
    finally:
        database.close()
