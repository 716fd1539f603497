"""The service database: the engine (SQLite by default, PostgreSQL in production), the Alembic
migrations, and the tables every part of the service shares: API keys, service secrets and the
model cards workers publish. Feature stores (jobs.store) build on Database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# SQLite waits this long for another process's write lock instead of failing at once.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return (
            value.astimezone(UTC)
            if dialect.name != "sqlite"
            else value.astimezone(UTC).replace(tzinfo=None)
        )

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # also the key's public prefix
    name: Mapped[str] = mapped_column(String(255))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SecretRow(Base):
    """Service secrets generated once and shared by the API and every worker."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelCardRow(Base):
    """What each worker runs, published at its start, so that the API front (which loads no
    model) can serve /v1/model."""

    __tablename__ = "model_cards"

    weights_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    worker: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def changed_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; the number of rows it changed."""
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; foreign keys make deliveries cascade.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the URL; the SQLite file's folder is created if missing."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent): one log line when the
    schema changed, nothing when it was current (logs.configure_logging quiets Alembic)."""
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("deepfake_stream") / "migrations")
    )
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("database schema migrated from %s to %s", current or "nothing", head)


class Database:
    """A migrated database and its sessions; keys, secrets and model cards."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(select(1))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # Secrets and keys ---------------------------------------------------------------------

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """The named secret, created with make() the first time (by whichever process asks
        first; the others read the winner's)."""
        with self.session() as session:
            row = session.get(SecretRow, name)
            if row is not None:
                return row.value
        try:
            with self.session() as session:
                session.add(SecretRow(name=name, value=make()))
        except IntegrityError:  # another process inserted it first: read theirs
            pass
        with self.session() as session:
            row = session.get(SecretRow, name)
            assert row is not None
            return row.value

    def publish_model_card(self, weights_sha256: str, card: dict[str, Any], worker: str) -> None:
        with self.session() as session:
            session.merge(
                ModelCardRow(
                    weights_sha256=weights_sha256,
                    card=card,
                    worker=worker,
                    published_at=utcnow(),
                )
            )

    def latest_model_card(self) -> dict[str, Any] | None:
        with self.session() as session:
            row = session.scalars(
                select(ModelCardRow).order_by(ModelCardRow.published_at.desc()).limit(1)
            ).first()
            return None if row is None else row.card

    def add_key(self, key: ApiKeyRow) -> None:
        with self.session() as session:
            session.add(key)

    def get_key(self, key_id: str) -> ApiKeyRow | None:
        with self.session() as session:
            return session.get(ApiKeyRow, key_id)

    def list_keys(self) -> Sequence[ApiKeyRow]:
        with self.session() as session:
            return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)))

    def revoke_key(self, key_id: str) -> bool:
        with self.session() as session:
            return bool(
                changed_rows(
                    session,
                    update(ApiKeyRow)
                    .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                    .values(revoked_at=utcnow()),
                )
            )
