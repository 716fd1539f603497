"""The service database on real SQLite and PostgreSQL: migrations, secrets, keys and model
cards."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from deepfake_stream.database import ApiKeyRow, Base, Database, utcnow


def test_migrations_bring_the_schema_to_the_models_and_run_again_harmlessly(
    database_url: str,
) -> None:
    import deepfake_stream.jobs.store  # noqa: F401  the job tables are part of the schema

    first = Database(database_url)
    first.close()
    again = Database(database_url)  # already at head: nothing to do
    try:
        with again.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        again.close()


def test_a_secret_is_made_once_and_every_process_reads_the_same(database_url: str) -> None:
    api, worker = Database(database_url), Database(database_url)
    try:
        assert api.secret("signing", lambda: "first") == "first"
        assert worker.secret("signing", lambda: "second") == "first"
        assert worker.secret("other", lambda: "its own") == "its own"
    finally:
        api.close()
        worker.close()


def test_keys_are_added_found_listed_and_revoked_once(database_url: str) -> None:
    database = Database(database_url)
    try:
        for number, created in enumerate((utcnow() - timedelta(minutes=1), utcnow())):
            database.add_key(
                ApiKeyRow(
                    id=f"key{number}",
                    name=f"client {number}",
                    secret_sha256="0" * 64,
                    scopes=["analyze"],
                    rate_per_minute=10,
                    created_at=created,
                )
            )
        assert [key.id for key in database.list_keys()] == ["key0", "key1"]
        found = database.get_key("key1")
        assert found is not None and found.scopes == ["analyze"] and found.revoked_at is None
        assert found.created_at.tzinfo is not None  # UTC-aware on every backend
        assert database.get_key("missing") is None
        assert database.revoke_key("key1") is True
        assert database.revoke_key("key1") is False  # already revoked
        revoked = database.get_key("key1")
        assert revoked is not None and revoked.revoked_at is not None
    finally:
        database.close()


def test_the_newest_published_model_card_is_served(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert database.latest_model_card() is None
        database.publish_model_card("a" * 64, {"weights_name": "old"}, "worker-1")
        database.publish_model_card("b" * 64, {"weights_name": "new"}, "worker-2")
        assert database.latest_model_card() == {"weights_name": "new"}
        # A worker restarting with the old weights publishes again: it is the newest then.
        database.publish_model_card("a" * 64, {"weights_name": "old"}, "worker-3")
        assert database.latest_model_card() == {"weights_name": "old"}
    finally:
        database.close()
