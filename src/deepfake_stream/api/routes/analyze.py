"""POST /v1/analyze: upload an image or a video, get the verdict and its evidence."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request

from ...config import AnalysisOptions
from ...errors import DeepfakeStreamError, GatewayTimeoutError, error_for_code
from ...jobs.storage import MediaStore
from ...jobs.store import FINAL_STATUSES, JobStatus, JobStore
from ...jobs.submit import Submission, submit_job
from ...metrics import observe_analysis
from ...schema import AnalysisResult
from ...thumbnails import MAX_THUMBNAILS, THUMBNAIL_SIDE
from ..deps import AnalyzeCaller, StateDep
from ..errors import ERROR_RESPONSES
from ..state import ServiceState
from ..upload import SavedUpload, multipart_body, save_upload

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["analysis"])

MULTIPART_BODY = multipart_body()
# How often the scale-out path looks whether its job has ended.
SYNC_POLL_S = 0.1


@router.post("/analyze", responses=ERROR_RESPONSES, openapi_extra=MULTIPART_BODY)
async def analyze(
    request: Request,
    state: StateDep,
    caller: AnalyzeCaller,
    segments: Annotated[
        int | None, Query(ge=1, le=128, description="Segments the video is cut into.")
    ] = None,
    frames_per_segment: Annotated[
        int | None, Query(ge=1, le=64, description="Frames sampled from each segment.")
    ] = None,
    thumbnails: Annotated[
        bool,
        Query(
            description="Add `thumbnails`: for each person in each segment, their most "
            f"suspicious face crop as a JPEG data URI (at most {THUMBNAIL_SIDE} px a side), "
            f"with its time and scores; at most {MAX_THUMBNAILS}, a few KB each."
        ),
    ] = False,
) -> AnalysisResult:
    """Analyse one uploaded file and answer with the result. The upload streams to a file,
    deleted afterwards. Embedded mode: the analysis runs in this process, on a worker thread.
    With the Redis broker it runs on a worker as a job that is deleted once answered.

    `thumbnails=true` adds small JPEGs of the analysed faces (`thumbnails`), so that a reader
    sees which moments made the verdict; without it the result has no images."""
    settings = state.settings
    options = AnalysisOptions(segments, frames_per_segment, thumbnails)
    if state.analyzes_in_process:
        analyzer = state.ready_analyzer()
        directory = settings.server.upload_dir
    else:
        directory = state.jobs()[1].directory
    # The place in line is taken once the upload is complete: a slow upload holds none.
    async with state.gate.uploading(caller.key_id):
        upload = await save_upload(request, directory, settings.limits.max_bytes)
    try:
        async with state.gate.admit():
            if state.analyzes_in_process:
                async with state.gate.run():
                    result = await anyio.to_thread.run_sync(
                        lambda: analyzer.analyze(upload.path, options, file_name=upload.filename)
                    )
            else:
                result = await _analyze_on_a_worker(state, caller.key_id, upload, options)
    finally:
        upload.path.unlink(missing_ok=True)  # a job's media was moved in, unless it failed
    observe_analysis(result)
    log.info(
        "analyzed %s (%d bytes): %s p=%s in %.0f ms",
        upload.filename,
        upload.size,
        result.verdict,
        result.probability,
        result.timings.total_ms,
    )
    return result


async def _analyze_on_a_worker(
    state: ServiceState, api_key_id: str | None, upload: SavedUpload, options: AnalysisOptions
) -> AnalysisResult:
    """Queue the upload as a job, wait for a worker to end it, and delete the job: the
    synchronous path keeps nothing, whatever happens (a client gone mid-wait included)."""
    store, media, queue = state.jobs()
    submission = Submission(
        api_key_id=api_key_id,
        upload=upload.path,
        upload_bytes=upload.size,
        file_name=upload.filename,
        options=options.overrides(),
    )
    submitted: str | None = None  # the job to delete at the end, once there is one
    try:
        queued, _ = await anyio.to_thread.run_sync(submit_job, store, media, queue, submission)
        job_id = submitted = queued.id
        deadline = anyio.current_time() + state.settings.server.sync_wait_s
        while True:
            job = await anyio.to_thread.run_sync(store.get_job, job_id)
            if job is None:
                raise DeepfakeStreamError(f"job {job_id} vanished while it was awaited")
            if job.status in FINAL_STATUSES:
                break
            if anyio.current_time() > deadline:
                waited = state.settings.server.sync_wait_s
                raise GatewayTimeoutError(
                    f"no worker finished the analysis within {waited:.0f} s; "
                    "submit long files as jobs (POST /v1/jobs)"
                )
            await anyio.sleep(SYNC_POLL_S)
        if job.status == JobStatus.SUCCEEDED and job.result is not None:
            return AnalysisResult.model_validate(job.result)
        raise error_for_code(job.error_code or "error", job.error_message or "the analysis failed")
    finally:
        with anyio.CancelScope(shield=True):
            if submitted is not None:
                await anyio.to_thread.run_sync(_delete_job, store, media, submitted)
            upload.path.unlink(missing_ok=True)


def _delete_job(store: JobStore, media: MediaStore, job_id: str) -> None:
    job = store.get_job(job_id)
    if job is not None:
        store.request_cancel(job_id)
        media.delete(job.media_path)
        store.delete_job(job_id)
