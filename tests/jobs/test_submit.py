"""Submitting jobs on a real database and the embedded broker: the upload moves in under the
job's id, the job is queued once, and a raced Idempotency-Key yields the earlier job."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfake_stream.config import QueueSettings
from deepfake_stream.jobs.queue import JobQueue
from deepfake_stream.jobs.storage import MediaStore
from deepfake_stream.jobs.store import JobStatus, JobStore
from deepfake_stream.jobs.submit import Submission, submit_job


@pytest.fixture
def parts(database_url: str, tmp_path: Path) -> Iterator[tuple[JobStore, MediaStore, JobQueue]]:
    store = JobStore(database_url)
    queue = JobQueue(QueueSettings(broker="embedded"))
    yield store, MediaStore(tmp_path / "media"), queue
    queue.close()
    store.close()


def _upload(fixtures: Path, tmp_path: Path) -> Path:
    saved = tmp_path / "upload.part"
    shutil.copy(fixtures / "photo.jpg", saved)
    return saved


def test_an_upload_becomes_a_queued_job_that_owns_its_media(
    parts: tuple[JobStore, MediaStore, JobQueue], fixtures: Path, tmp_path: Path
) -> None:
    store, media, queue = parts
    upload = _upload(fixtures, tmp_path)
    size = upload.stat().st_size
    job, created = submit_job(
        store,
        media,
        queue,
        Submission(
            api_key_id="k1",
            upload=upload,
            upload_bytes=size,
            file_name="photo.jpg",
            options={"segments": 2},
            keep_media=True,
        ),
    )
    assert created and job.status == JobStatus.QUEUED and queue.depth() == 1
    assert not upload.exists()  # moved, not copied
    assert job.media_path is not None and Path(job.media_path).stat().st_size == size
    assert Path(job.media_path).parent == media.directory and job.id in job.media_path
    stored = store.get_own_job(job.id, "k1")
    assert stored is not None and stored.options == {"segments": 2} and stored.keep_media


def test_a_url_job_records_its_source_and_has_no_media_yet(
    parts: tuple[JobStore, MediaStore, JobQueue],
) -> None:
    store, media, queue = parts
    url = "https://example.com/clip.mp4"
    job, created = submit_job(
        store,
        media,
        queue,
        Submission(api_key_id=None, source_url=url, callback_url="https://example.com/hook"),
    )
    assert created and job.media_path is None and job.file_name == url
    assert job.options == {"url": url} and job.callback_url == "https://example.com/hook"
    assert queue.depth() == 1


def test_the_same_idempotency_key_gives_the_first_job_and_cleans_up_the_second_upload(
    parts: tuple[JobStore, MediaStore, JobQueue], fixtures: Path, tmp_path: Path
) -> None:
    store, media, queue = parts
    first, _ = submit_job(
        store,
        media,
        queue,
        Submission(api_key_id="k1", source_url="https://example.com/a", idempotency_key="x"),
    )
    upload = _upload(fixtures, tmp_path)
    again, created = submit_job(
        store,
        media,
        queue,
        Submission(
            api_key_id="k1",
            upload=upload,
            upload_bytes=upload.stat().st_size,
            file_name="photo.jpg",
            idempotency_key="x",
        ),
    )
    assert not created and again.id == first.id
    assert queue.depth() == 1  # not queued twice
    assert list(media.directory.iterdir()) == []  # the loser's upload is not left behind
    other_key, created = submit_job(
        store,
        media,
        queue,
        Submission(api_key_id="k2", source_url="https://example.com/a", idempotency_key="x"),
    )
    assert created and other_key.id != first.id  # keys are per API key
