"""Running jobs: claim, analyse, record the outcome, delete the media, send the webhook; and the
background duties every job-running process shares: recovering the jobs of dead workers and
purging expired ones."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ..config import AnalysisOptions, Settings
from ..errors import DeepfakeStreamError
from ..logs import job_id as job_id_context
from ..metrics import JOBS_ENDED, observe_analysis
from ..network import check_public_url
from ..pipeline import Analyzer
from ..progress import ProgressFold
from .queue import JobQueue
from .storage import MediaStore
from .store import JobRow, JobStatus, JobStore, WebhookState
from .webhooks import WebhookSender

log = logging.getLogger(__name__)


# A media file that no job refers to is deleted once untouched this long (an upload still
# streaming in is touched with every chunk).
ORPHAN_AGE_S = 3600.0


class JobCancelled(Exception):
    """Raised inside the analysis when the job's claim is gone (cancelled, or taken over)."""


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Lease:
    """Renews a running job's lease on a thread of its own while the analysis runs, and
    carries the analysis' progress (progress.ProgressFold) to the store as it moves, at most
    every PROGRESS_WRITE_INTERVAL_S."""

    PROGRESS_WRITE_INTERVAL_S = 0.5

    def __init__(self, store: JobStore, job_id: str, worker: str, lease_s: float) -> None:
        self.store, self.job_id, self.worker, self.lease_s = store, job_id, worker, lease_s
        self.progress = ProgressFold()
        self.lost = threading.Event()
        self._moved = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="dfs-lease", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._moved.set()
        self._thread.join()

    def _keep(self) -> None:
        while True:
            self._moved.wait(min(self.lease_s / 3, 2.0))
            if self._stop.is_set():
                return
            self._moved.clear()
            stage, fraction = self.progress.stage, self.progress.fraction
            if not self.store.renew(self.job_id, self.worker, self.lease_s, stage, fraction):
                self.lost.set()
                return
            if self._stop.wait(self.PROGRESS_WRITE_INTERVAL_S):
                return

    def on_progress(self, stage: str, done: int, total: int) -> None:
        if self.lost.is_set():
            raise JobCancelled(self.job_id)
        self.progress.update(stage, done, total)
        self._moved.set()


class JobRunner:
    """Runs the jobs whose ids arrive from the queue, with one loaded analyzer."""

    def __init__(
        self,
        settings: Settings,
        analyzer: Analyzer,
        store: JobStore,
        media: MediaStore,
        queue: JobQueue,
    ) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.store = store
        self.media = media
        self.queue = queue
        self.worker_id = new_worker_id()
        self.lease_s = settings.queue.lease_s
        self.webhooks = WebhookSender(settings.webhooks, store, self.worker_id, self.lease_s)
        self._stop = threading.Event()
        self._chores = threading.Thread(target=self._chore_loop, name="dfs-chores", daemon=True)

    def start(self, threads: int) -> None:
        self.queue.start(self.run, threads)
        self._chores.start()
        log.info("worker %s running jobs on %d thread(s)", self.worker_id, threads)

    def close(self) -> None:
        self._stop.set()
        self.queue.close()
        self.webhooks.close()
        if self._chores.is_alive():
            self._chores.join()

    def run(self, job_id: str) -> JobStatus | None:
        """Run one job; the status it ended in, or None if it was not this worker's to run."""
        token = job_id_context.set(job_id)
        try:
            return self._run(job_id)
        finally:
            job_id_context.reset(token)

    def _run(self, job_id: str) -> JobStatus | None:
        job = self.store.claim(job_id, self.worker_id, self.lease_s)
        if job is None:
            return None
        log.info("job %s started (attempt %d)", job_id, job.attempts)
        status, result, error = self._analyze(job)
        retention = self.settings.retention.result_days
        if status is JobStatus.CANCELLED:
            ended = self.store.mark_cancelled(job_id, self.worker_id, retention)
        else:
            ended = self.store.finish(
                job_id, self.worker_id, status, result=result, error=error, retention_days=retention
            )
        if not ended:  # another worker took the job over after our lease lapsed
            log.warning("job %s: lost the claim; this worker's outcome is dropped", job_id)
            return None
        if not job.keep_media or status is JobStatus.CANCELLED:
            self.media.delete(job.media_path)
            self.store.set_media_path(job_id, None)
        log.info("job %s %s", job_id, status.value)
        JOBS_ENDED.labels(status.value).inc()
        if job.callback_url and status is not JobStatus.CANCELLED:
            self.webhooks.submit(job_id)
        return status

    def _analyze(
        self, job: JobRow
    ) -> tuple[JobStatus, dict[str, object] | None, tuple[str, str] | None]:
        media_path = job.media_path
        if media_path is None and "url" in job.options:
            try:
                media_path = self._fetch(job)
            except DeepfakeStreamError as exc:
                return JobStatus.FAILED, None, (exc.code, exc.message)
            job.media_path = media_path
        if media_path is None or not Path(media_path).is_file():
            return JobStatus.FAILED, None, ("media_missing", "the job's media is gone")
        options = AnalysisOptions.from_stored(job.options)
        with _Lease(self.store, job.id, self.worker_id, self.lease_s) as lease:
            try:
                result = self.analyzer.analyze(
                    Path(media_path), options, job.file_name, on_progress=lease.on_progress
                )
            except JobCancelled:
                return JobStatus.CANCELLED, None, None
            except DeepfakeStreamError as exc:
                return JobStatus.FAILED, None, (exc.code, exc.message)
            except Exception as exc:  # a bug must fail the job, not leave it running forever
                log.exception("job %s failed", job.id)
                # Its text (a file's path, say) is for the log: the job's client reads this one.
                message = f"internal error ({type(exc).__name__}); see the service log"
                return JobStatus.FAILED, None, ("internal_error", message)
            if lease.lost.is_set():
                return JobStatus.CANCELLED, None, None
        observe_analysis(result)
        return JobStatus.SUCCEEDED, result.model_dump(mode="json"), None

    def _fetch(self, job: JobRow) -> str:
        url = str(job.options["url"])
        check_public_url(url, self.settings.webhooks.allow_private, "url")  # DNS may have changed
        webhooks = self.settings.webhooks
        path, _ = self.media.fetch(
            url, job.id, self.settings.limits.max_bytes, webhooks.timeout_s, webhooks.allow_private
        )
        self.store.set_media_path(job.id, str(path))
        return str(path)

    # Chores -------------------------------------------------------------------------------

    def requeue_waiting(self) -> int:
        """Send every queued job again: the embedded broker forgets its messages on restart.
        A job sent twice still runs once (claim)."""
        waiting = self.store.queued_jobs()
        for job in waiting:
            self.queue.enqueue(job.id)
            self.store.mark_enqueued(job.id)
        return len(waiting)

    def resend_unsent(self) -> int:
        """Send again the queued jobs the broker never took or lost (store.jobs_to_resend)."""
        queue_settings = self.settings.queue
        waiting = self.store.jobs_to_resend(queue_settings.lease_s, queue_settings.resend_after_s)
        for job in waiting:
            log.warning("job %s: queued but not taken by the broker; sending it again", job.id)
            self.queue.enqueue(job.id)  # the broker still away: the next round tries again
            self.store.mark_enqueued(job.id)
        return len(waiting)

    def recover(self) -> int:
        """Re-run the jobs and re-send the webhooks that dead workers left behind, and send
        the jobs the broker never took."""
        self.resend_unsent()
        found = self.store.jobs_to_recover()
        for job in found:
            if job.status == JobStatus.RUNNING:
                log.warning(
                    "job %s: worker %s stopped renewing; running it again", job.id, job.worker
                )
                self.queue.enqueue(job.id)
            elif job.webhook_state == WebhookState.PENDING:
                self.webhooks.submit(job.id)
        return len(found)

    def purge_expired(self) -> int:
        """Delete expired jobs (their media, deliveries and rows), and media files that no job
        refers to any more."""
        expired = self.store.expired_jobs()
        for job in expired:
            self.media.delete(job.media_path)
            self.store.delete_job(job.id)
        orphans = self.media.orphans(self.store.media_paths(), ORPHAN_AGE_S)
        for path in orphans:
            self.media.delete(str(path))
        if expired or orphans:
            log.info("purged %d expired job(s) and %d orphan file(s)", len(expired), len(orphans))
        return len(expired)

    def _chore_loop(self) -> None:
        next_purge = 0.0
        while not self._stop.wait(self.settings.queue.recovery_interval_s):
            try:
                self.recover()
                if time.monotonic() >= next_purge:
                    self.purge_expired()
                    next_purge = time.monotonic() + self.settings.retention.purge_interval_s
            except Exception:  # the database may be briefly away: try again next round
                log.exception(
                    "job chores failed; retrying in %.0f s", self.settings.queue.recovery_interval_s
                )
