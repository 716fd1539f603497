"""Submitting a job: the one way a job comes to be, for POST /v1/jobs and for the scale-out
path of POST /v1/analyze alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..errors import BrokerUnavailableError
from .queue import JobQueue
from .storage import MediaStore
from .store import MAX_FILE_NAME_CHARS, JobRow, JobStore, new_job_id, stored_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """What a job is asked to do: an uploaded file (moved in under the job's id) or a URL the
    worker fetches, with its options."""

    api_key_id: str | None
    upload: Path | None = None  # the saved upload, if the media came with the request
    upload_bytes: int = 0
    file_name: str | None = None
    source_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # segments, frames_per_segment
    callback_url: str | None = None
    keep_media: bool = False
    idempotency_key: str | None = None


def submit_job(
    store: JobStore, media: MediaStore, queue: JobQueue, submission: Submission
) -> tuple[JobRow, bool]:
    """Create the job and queue it; or, when a submission with the same Idempotency-Key won a
    race, the earlier job (not queued again). Whether the job is new.

    A broker that cannot be reached refuses the submission before anything is made
    (BrokerUnavailableError, 503). One that goes away between that check and the send leaves
    the job in the database, which is the outbox: it stays queued, and the workers' recovery
    sends it once the broker is back (JobRunner.resend_unsent). Either way nothing is lost, and
    nothing runs twice."""
    queue.ping()
    job, created = _create_job(store, media, submission)
    if created:
        try:
            queue.enqueue(job.id)
        except BrokerUnavailableError:
            log.warning("job %s kept queued: the broker went away; recovery will send it", job.id)
            return job, created
        store.mark_enqueued(job.id)
        log.info("job %s queued (%s, %d bytes)", job.id, job.file_name, job.media_bytes)
    return job, created


def _create_job(store: JobStore, media: MediaStore, submission: Submission) -> tuple[JobRow, bool]:
    job_id = new_job_id()
    upload = submission.upload
    media_path = str(media.adopt(upload, job_id)) if upload is not None else None
    options = dict(submission.options)
    if submission.source_url is not None:
        options["url"] = submission.source_url
    try:
        job = store.create_job(
            job_id=job_id,
            media_path=media_path,
            media_bytes=submission.upload_bytes,
            file_name=stored_text(
                submission.file_name or submission.source_url, MAX_FILE_NAME_CHARS
            ),
            options=options,
            callback_url=submission.callback_url,
            keep_media=submission.keep_media,
            api_key_id=submission.api_key_id,
            idempotency_key=submission.idempotency_key,
        )
        return job, True
    except IntegrityError:
        media.delete(media_path)
        key = submission.idempotency_key
        earlier = store.find_idempotent(submission.api_key_id, key) if key else None
        if earlier is None:
            raise
        return earlier, False
    except BaseException:
        media.delete(media_path)
        raise
