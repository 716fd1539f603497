"""The media store on a real directory, fetching from a real local HTTP server."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from deepfake_stream.errors import FileTooLargeError, MediaError
from deepfake_stream.jobs.storage import MediaStore


def test_a_finished_upload_is_renamed_to_its_job(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")  # created when missing
    upload = store.directory / "upload-1.part"
    upload.write_bytes(b"media")
    path = store.adopt(upload, "job1")
    assert path == store.directory / "job1" and path.read_bytes() == b"media"
    assert not upload.exists()


def test_media_is_fetched_whole_or_not_at_all(
    tmp_path: Path, served_fixtures: str, fixtures: Path
) -> None:
    store = MediaStore(tmp_path)
    local = {"timeout_s": 10, "allow_private": True}  # the fixture server is on 127.0.0.1
    path, size = store.fetch(f"{served_fixtures}/photo.jpg", "job1", max_bytes=10**7, **local)
    assert (
        path.read_bytes() == (fixtures / "photo.jpg").read_bytes() and size == path.stat().st_size
    )
    with pytest.raises(FileTooLargeError, match="exceeds the limit"):
        store.fetch(f"{served_fixtures}/photo.jpg", "job2", max_bytes=1000, **local)
    with pytest.raises(MediaError, match="HTTP 404"):
        store.fetch(f"{served_fixtures}/missing.mp4", "job3", max_bytes=10**7, **local)
    with pytest.raises(MediaError, match="could not fetch"):
        store.fetch("http://127.0.0.1:9/clip.mp4", "job4", max_bytes=10**7, **local)
    # Without leave to reach private addresses, the connection is never made.
    with pytest.raises(MediaError, match="non-public"):
        store.fetch(f"{served_fixtures}/photo.jpg", "job5", max_bytes=10**7, timeout_s=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job1"]  # no partial files left


def test_orphans_are_old_files_no_job_refers_to(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    known, orphan, young = (tmp_path / name for name in ("known", "orphan", "young"))
    for path in (known, orphan, young):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3600
    for path in (known, orphan):
        os.utime(path, (hour_ago, hour_ago))
    assert store.orphans({str(known)}, older_than_s=600) == [orphan]
    store.delete(str(orphan))
    store.delete(str(orphan))  # gone already: nothing to do
    store.delete(None)
    assert not orphan.exists() and known.exists()
