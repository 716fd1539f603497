"""Jobs put straight into a job store, as a submit would leave them: queued, with a copy of a
media file adopted by the media store (for tests of what happens to queued jobs)."""

from __future__ import annotations

import shutil
from pathlib import Path

from deepfake_stream.jobs.storage import MediaStore
from deepfake_stream.jobs.store import JobRow, JobStore, new_job_id


def queued_job(
    store: JobStore, media: MediaStore, source: Path, job_id: str | None = None
) -> JobRow:
    """A queued job of a copy of `source`, never handed to any broker."""
    job_id = job_id or new_job_id()
    copy = media.directory / f"upload-{job_id}"
    shutil.copy(source, copy)
    return store.create_job(
        job_id=job_id,
        media_path=str(media.adopt(copy, job_id)),
        media_bytes=source.stat().st_size,
        file_name=source.name,
        options={},
        callback_url=None,
        keep_media=False,
        api_key_id=None,
        idempotency_key=None,
    )
