"""The job store: jobs and webhook deliveries, on the service database (database.py).

Exactly-once comes from here, not from the broker: a worker may run a job only after claiming
it (queued, or running with an expired lease), and it writes the outcome only while it still
holds the claim, so a message delivered twice cannot produce two results.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..database import Base, Database, UTCDateTime, changed_rows, utcnow

# Column lengths of the callers' strings (jobs.idempotency_key, jobs.file_name).
MAX_IDEMPOTENCY_KEY_CHARS = 255
MAX_FILE_NAME_CHARS = 255


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class WebhookState(enum.StrEnum):
    NONE = "none"  # no callback_url
    PENDING = "pending"  # the job ended; delivery not yet confirmed
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


class NewJob(TypedDict):
    """What a job is created with (JobStore.create_job); the rest starts at its default."""

    media_path: str | None
    media_bytes: int
    file_name: str | None
    options: dict[str, Any]
    callback_url: str | None
    keep_media: bool
    api_key_id: str | None
    idempotency_key: str | None


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(MAX_IDEMPOTENCY_KEY_CHARS))
    file_name: Mapped[str | None] = mapped_column(String(MAX_FILE_NAME_CHARS))
    media_path: Mapped[str | None] = mapped_column(Text)  # None once deleted
    media_bytes: Mapped[int] = mapped_column(Integer, default=0)
    keep_media: Mapped[bool] = mapped_column(Boolean, default=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    callback_url: Mapped[str | None] = mapped_column(Text)
    webhook_state: Mapped[str] = mapped_column(String(16), default=WebhookState.NONE)
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When the job was last handed to the broker; None: never (it was unreachable).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class DeliveryRow(Base):
    """One webhook delivery attempt."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[float] = mapped_column(Float)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Page:
    jobs: list[JobRow]
    next_cursor: str | None  # pass back as `cursor` for the next page


class JobStore(Database):
    """Every read and write of jobs and webhook deliveries (and, through Database, of keys,
    secrets and model cards)."""

    # Jobs ---------------------------------------------------------------------------------

    def create_job(self, *, job_id: str | None = None, **fields: Unpack[NewJob]) -> JobRow:
        job = JobRow(
            id=job_id or new_job_id(),
            status=JobStatus.QUEUED,
            webhook_state=WebhookState.NONE,
            progress=0.0,
            attempts=0,
            cancel_requested=False,
            created_at=utcnow(),
            **fields,
        )
        with self.session() as session:
            session.add(job)
        return job

    def get_job(self, job_id: str) -> JobRow | None:
        with self.session() as session:
            return session.get(JobRow, job_id)

    def get_own_job(self, job_id: str, owner: str | None) -> JobRow | None:
        """The job, if it exists and is the caller's: the key's own jobs, and for an anonymous
        caller (auth off, no key sent) only jobs submitted without a key."""
        job = self.get_job(job_id) if is_job_id(job_id) else None
        return job if job is not None and job.api_key_id == owner else None

    def find_idempotent(self, api_key_id: str | None, idempotency_key: str) -> JobRow | None:
        with self.session() as session:
            return session.scalars(
                select(JobRow).where(
                    JobRow.idempotency_key == idempotency_key,
                    JobRow.api_key_id.is_(None)
                    if api_key_id is None
                    else JobRow.api_key_id == api_key_id,
                )
            ).first()

    def list_jobs(
        self,
        *,
        owner: str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """The owner's jobs (see get_own_job), newest first; `cursor` is the id of the last job
        of the previous page."""
        query = select(JobRow).where(
            JobRow.api_key_id.is_(None) if owner is None else JobRow.api_key_id == owner
        )
        if status is not None:
            query = query.where(JobRow.status == status)
        with self.session() as session:
            if cursor is not None:
                after = session.get(JobRow, cursor)
                if after is not None:
                    query = query.where(
                        (JobRow.created_at < after.created_at)
                        | ((JobRow.created_at == after.created_at) & (JobRow.id < after.id))
                    )
            rows = list(
                session.scalars(
                    query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit + 1)
                )
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].id if more and rows else None)

    def count_by_status(self) -> dict[str, int]:
        with self.session() as session:
            return {
                status: count
                for status, count in session.execute(
                    select(JobRow.status, func.count()).group_by(JobRow.status)
                )
            }

    def claim(self, job_id: str, worker: str, lease_s: float) -> JobRow | None:
        """Take the job for this worker if it is queued, or running on a lapsed lease; None if
        another worker holds it, or it has ended or been cancelled."""
        now = utcnow()
        return self._take(
            job_id,
            [
                JobRow.cancel_requested.is_(False),
                (JobRow.status == JobStatus.QUEUED)
                | ((JobRow.status == JobStatus.RUNNING) & (JobRow.lease_until < now)),
            ],
            status=JobStatus.RUNNING,
            worker=worker,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=JobRow.attempts + 1,
            started_at=now,
            stage=None,
            progress=0.0,
        )

    def _take(self, job_id: str, conditions: list[Any], **values: Any) -> JobRow | None:
        """Set these values on the job if it meets the conditions, in one UPDATE (so that of
        two takers exactly one wins); the job as taken, or None."""
        with self.session() as session:
            taken = changed_rows(
                session,
                update(JobRow)
                .where(JobRow.id == job_id, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False),
            )
            return session.get(JobRow, job_id) if taken else None

    def renew(
        self, job_id: str, worker: str, lease_s: float, stage: str | None, progress: float
    ) -> bool:
        """Extend the lease and record progress. False: the claim is lost or a cancel was asked
        for, and the worker must stop."""
        with self.session() as session:
            renewed = changed_rows(
                session,
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.worker == worker,
                    JobRow.status == JobStatus.RUNNING,
                    JobRow.cancel_requested.is_(False),
                )
                .values(
                    lease_until=utcnow() + timedelta(seconds=lease_s),
                    stage=stage,
                    progress=progress,
                )
                .execution_options(synchronize_session=False),
            )
            return bool(renewed)

    def finish(
        self,
        job_id: str,
        worker: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: tuple[str, str] | None = None,
        retention_days: float,
    ) -> bool:
        """Record the outcome, if this worker still holds the job. False: it does not (the
        lease lapsed and another worker took over), and this outcome is dropped."""
        now = utcnow()
        with self.session() as session:
            job = session.get(JobRow, job_id, with_for_update=True)
            if job is None or job.worker != worker or job.status != JobStatus.RUNNING:
                return False
            job.status = status
            job.result = result
            job.error_code, job.error_message = error if error else (None, None)
            job.finished_at = now
            job.expires_at = now + timedelta(days=retention_days)
            job.progress = 1.0 if status is JobStatus.SUCCEEDED else job.progress
            job.webhook_state = WebhookState.PENDING if job.callback_url else WebhookState.NONE
            # The lease now guards the webhook delivery: a worker that dies while delivering
            # leaves it to be resumed.
            job.lease_until = now
            return True

    def request_cancel(self, job_id: str) -> JobRow | None:
        """Cancel a queued job at once; ask a running one to stop. The job as it now is."""
        with self.session() as session:
            job = session.get(JobRow, job_id, with_for_update=True)
            if job is None:
                return None
            if job.status == JobStatus.QUEUED:
                now = utcnow()
                job.status = JobStatus.CANCELLED
                job.finished_at = now
                job.expires_at = now  # nothing to keep
            elif job.status == JobStatus.RUNNING:
                job.cancel_requested = True
            return job

    def mark_cancelled(self, job_id: str, worker: str, retention_days: float) -> bool:
        """A running job stopped on request."""
        now = utcnow()
        with self.session() as session:
            return bool(
                changed_rows(
                    session,
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.worker == worker)
                    .values(
                        status=JobStatus.CANCELLED,
                        finished_at=now,
                        expires_at=now + timedelta(days=retention_days),
                        webhook_state=WebhookState.NONE,
                    )
                    .execution_options(synchronize_session=False),
                )
            )

    def set_media_path(self, job_id: str, media_path: str | None) -> None:
        with self.session() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(media_path=media_path))

    def delete_job(self, job_id: str) -> None:
        """The job and its delivery records (the caller deletes its media first)."""
        with self.session() as session:
            session.execute(delete(DeliveryRow).where(DeliveryRow.job_id == job_id))
            session.execute(delete(JobRow).where(JobRow.id == job_id))

    def expired_jobs(self, now: datetime | None = None) -> list[JobRow]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow).where(
                        JobRow.expires_at.is_not(None), JobRow.expires_at <= (now or utcnow())
                    )
                )
            )

    def media_paths(self) -> set[str]:
        """The media files that jobs still refer to."""
        with self.session() as session:
            return {
                path
                for path in session.scalars(
                    select(JobRow.media_path).where(JobRow.media_path.is_not(None))
                )
                if path is not None
            }

    def jobs_to_recover(self, now: datetime | None = None) -> list[JobRow]:
        """Jobs whose worker vanished: running, or ended with a webhook still to send, on a
        lapsed lease."""
        now = now or utcnow()
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow).where(
                        JobRow.lease_until < now,
                        (JobRow.status == JobStatus.RUNNING)
                        | (JobRow.webhook_state == WebhookState.PENDING),
                    )
                )
            )

    def mark_enqueued(self, job_id: str) -> None:
        with self.session() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(enqueued_at=utcnow()))

    def jobs_to_resend(
        self, unsent_after_s: float, resend_after_s: float, now: datetime | None = None
    ) -> list[JobRow]:
        """The outbox: queued jobs never handed to the broker for unsent_after_s (a submit that
        found it unreachable), or handed to it over resend_after_s ago and still not taken (a
        broker that restarted without its messages). A job sent twice still runs once."""
        now = now or utcnow()
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow).where(
                        JobRow.status == JobStatus.QUEUED,
                        (
                            JobRow.enqueued_at.is_(None)
                            & (JobRow.created_at < now - timedelta(seconds=unsent_after_s))
                        )
                        | (JobRow.enqueued_at < now - timedelta(seconds=resend_after_s)),
                    )
                )
            )

    def queued_jobs(self) -> list[JobRow]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(JobRow)
                    .where(JobRow.status == JobStatus.QUEUED)
                    .order_by(JobRow.created_at)
                )
            )

    # Webhooks -----------------------------------------------------------------------------

    def claim_delivery(self, job_id: str, worker: str, lease_s: float) -> JobRow | None:
        """Take the pending webhook of an ended job: once its lease lapsed (finish() lets it lapse
        at once), so that two senders never deliver it together."""
        now = utcnow()
        return self._take(
            job_id,
            [JobRow.webhook_state == WebhookState.PENDING, JobRow.lease_until < now],
            worker=worker,
            lease_until=now + timedelta(seconds=lease_s),
        )

    def renew_delivery(self, job_id: str, worker: str, lease_s: float) -> None:
        with self.session() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.worker == worker)
                .values(lease_until=utcnow() + timedelta(seconds=lease_s))
            )

    def record_attempt(self, attempt: DeliveryRow) -> None:
        with self.session() as session:
            session.add(attempt)

    def end_delivery(self, job_id: str, worker: str, state: WebhookState) -> None:
        with self.session() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.worker == worker)
                .values(webhook_state=state)
            )

    def deliveries(self, job_id: str) -> list[DeliveryRow]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(DeliveryRow).where(DeliveryRow.job_id == job_id).order_by(DeliveryRow.id)
                )
            )


def new_job_id() -> str:
    return uuid.uuid4().hex


# What new_job_id makes: anything else names no job (and never reaches the database, where a
# NUL or an over-long string is an error of PostgreSQL's, not a missing job).
JOB_ID = re.compile(r"[0-9a-f]{32}")


def is_job_id(text: str) -> bool:
    return JOB_ID.fullmatch(text) is not None


def stored_text(text: str | None, max_chars: int) -> str | None:
    """A caller's text as a column can hold it on every database: no NUL (PostgreSQL refuses
    it), at most max_chars (its column's length), cut in the middle so that both ends (a file
    name's extension) stay."""
    if text is None:
        return None
    text = text.replace("\x00", "")
    if len(text) <= max_chars:
        return text
    keep = max_chars - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3 :]
