"""Where uploaded media waits for its job: a directory that the API writes and every worker
reads (a shared volume when they run apart)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import httpx

from ..errors import FileTooLargeError, MediaError
from ..network import checked_client

log = logging.getLogger(__name__)


class MediaStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def adopt(self, upload: Path, job_id: str) -> Path:
        """Rename a finished upload (saved in this directory) to the job's name."""
        target = self.directory / job_id
        os.replace(upload, target)
        return target

    def fetch(
        self, url: str, job_id: str, max_bytes: int, timeout_s: float, allow_private: bool = False
    ) -> tuple[Path, int]:
        """Download a job's media from its URL, at most max_bytes; the path and size. The
        connection goes only to the address checked (network.checked_client), never through a
        redirect."""
        target = self.directory / job_id
        size = 0
        try:
            with (
                checked_client(timeout_s, allow_private) as client,
                client.stream("GET", url) as response,
                target.open("wb") as handle,
            ):
                if not response.is_success:
                    raise MediaError(f"fetching {url} answered HTTP {response.status_code}")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLargeError(f"{url} exceeds the limit of {max_bytes} bytes")
                    handle.write(chunk)
        except httpx.HTTPError as exc:
            target.unlink(missing_ok=True)
            raise MediaError(f"could not fetch {url}: {exc}") from exc
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target, size

    def delete(self, path: str | None) -> None:
        if path is None:
            return
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:  # the purge retries; a job must not fail for this
            log.warning("could not delete media %s: %s", path, exc)

    def orphans(self, known: set[str], older_than_s: float) -> list[Path]:
        """Files no job refers to, untouched for older_than_s: left by a crash between upload
        and insert, or written for a job deleted meanwhile. Younger ones may be uploads in
        progress."""
        cutoff = time.time() - older_than_s
        return [
            path
            for path in self.directory.iterdir()
            if path.is_file() and str(path) not in known and path.stat().st_mtime < cutoff
        ]
