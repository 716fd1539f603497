"""Jobs: submit media (upload or URL) and get a job id at once; poll it, list, cancel or purge;
be called back when it ends."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, ValidationError

from ...config import AnalysisOptions
from ...errors import InvalidParametersError, NotFoundError
from ...jobs.store import (
    FINAL_STATUSES,
    JOB_ID,
    MAX_IDEMPOTENCY_KEY_CHARS,
    JobRow,
    JobStatus,
)
from ...jobs.submit import Submission
from ...jobs.submit import submit_job as submit_job_service
from ...jobs.views import JobPage, JobView, job_view
from ...network import check_public_url
from ..deps import JobsReader, JobsWriter, StateDep
from ..errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from ..upload import SavedUpload, multipart_body, save_upload

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MAX_PAGE = 100


def _whole_number(value: object) -> object:
    """JSON Schema's integer includes 42.0; pydantic's strict int does not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# JSON bodies are validated strictly (no "2" for 2, no 0 for false), as their schema says.
Segments = Annotated[int, Field(ge=1, le=128), BeforeValidator(_whole_number)]
FramesPerSegment = Annotated[int, Field(ge=1, le=64), BeforeValidator(_whole_number)]


class JobOptions(BaseModel):
    """The fields a job takes besides its media (form fields of an upload, or JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    callback_url: HttpUrl | None = Field(
        default=None, description="POSTed the job, signed (Standard Webhooks), when it ends."
    )
    segments: Segments | None = None
    frames_per_segment: FramesPerSegment | None = None
    keep_media: bool = Field(
        default=False,
        description="Keep the media until the job expires (default: deleted "
        "as soon as the analysis ends).",
    )


class UrlJob(JobOptions):
    url: HttpUrl = Field(description="Where the worker fetches the media (http or https).")


UPLOAD_OR_URL_BODY = multipart_body(
    {
        "callback_url": {"type": "string", "format": "uri"},
        "segments": {"type": "integer", "minimum": 1, "maximum": 128},
        "frames_per_segment": {"type": "integer", "minimum": 1, "maximum": 64},
        "keep_media": {"type": "boolean"},
    },
    json_schema=UrlJob.model_json_schema(),
)

JOB_RESPONSES = NOT_FOUND_RESPONSES


def _options_from_form(fields: dict[str, str]) -> JobOptions:
    try:
        return JobOptions.model_validate(
            {key: value for key, value in fields.items() if value != ""}, strict=False
        )
    except ValidationError as exc:
        raise InvalidParametersError(_problems(exc)) from exc


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
        for error in exc.errors()
    )


def _accepted(job: JobRow, status_code: int = 202) -> JSONResponse:
    return JSONResponse(
        job_view(job).model_dump(mode="json"),
        status_code=status_code,
        headers={"Location": f"/v1/jobs/{job.id}"},
    )


@router.post(
    "",
    status_code=202,
    response_model=JobView,
    responses=JOB_RESPONSES | {200: {"model": JobView, "description": "Idempotent replay."}},
    openapi_extra=UPLOAD_OR_URL_BODY,
)
async def submit_job(
    request: Request,
    state: StateDep,
    caller: JobsWriter,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            description="Same key, same job: a retried "
            "submission returns the first one's job (200) instead of a new one.",
        ),
    ] = None,
) -> JSONResponse:
    """Queue an analysis: upload the media (multipart `file`) or give its `url` (JSON). Answers
    202 at once with the job and its Location; the job runs on a worker."""
    store, media, queue = state.jobs()
    settings = state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload: SavedUpload | None = None
    source_url: str | None = None
    if content_type == "application/json":
        try:
            body = UrlJob.model_validate_json(await request.body(), strict=True)
        except ValidationError as exc:
            raise InvalidParametersError(_problems(exc)) from exc
        options: JobOptions = body
        source_url = str(body.url)
        await anyio.to_thread.run_sync(
            check_public_url, source_url, settings.webhooks.allow_private, "url"
        )
    else:
        async with state.gate.uploading(caller.key_id):
            upload = await save_upload(request, media.directory, settings.limits.max_bytes)
    try:
        if upload is not None:
            options = _options_from_form(upload.fields)
        if options.callback_url is not None:
            await anyio.to_thread.run_sync(
                check_public_url, str(options.callback_url), settings.webhooks.allow_private
            )
        # A replay is answered only once the request is known to be valid: a malformed retry
        # must fail as the first attempt would have.
        if idempotency_key is not None:
            earlier = await anyio.to_thread.run_sync(
                store.find_idempotent, caller.key_id, idempotency_key
            )
            if earlier is not None:
                return _accepted(earlier, 200)
        submission = Submission(
            api_key_id=caller.key_id,
            upload=upload.path if upload is not None else None,
            upload_bytes=upload.size if upload is not None else 0,
            file_name=upload.filename if upload is not None else None,
            source_url=source_url,
            options=AnalysisOptions(options.segments, options.frames_per_segment).overrides(),
            callback_url=str(options.callback_url) if options.callback_url else None,
            keep_media=options.keep_media,
            idempotency_key=idempotency_key,
        )
        job, created = await anyio.to_thread.run_sync(
            submit_job_service, store, media, queue, submission
        )
    finally:
        if upload is not None:
            upload.path.unlink(missing_ok=True)  # already moved in, unless something failed
    return _accepted(job, 202 if created else 200)


@router.get("", response_model=JobPage, responses=ERROR_RESPONSES)
def list_jobs(
    state: StateDep,
    caller: JobsReader,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[
        str | None,
        Query(pattern=f"^{JOB_ID.pattern}$", description="next_cursor of the previous page."),
    ] = None,
) -> JobPage:
    """The caller's jobs, newest first."""
    store, _, _ = state.jobs()
    page = store.list_jobs(owner=caller.key_id, status=status, limit=limit, cursor=cursor)
    return JobPage(jobs=[job_view(job) for job in page.jobs], next_cursor=page.next_cursor)


def _own_job(state: StateDep, caller_key: str | None, job_id: str) -> JobRow:
    store, _, _ = state.jobs()
    job = store.get_own_job(job_id, caller_key)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


@router.get("/{job_id}", response_model=JobView, responses=JOB_RESPONSES)
def get_job(state: StateDep, caller: JobsReader, job_id: str) -> JobView:
    """The job's status and progress; with the analysis result once it has succeeded."""
    return job_view(_own_job(state, caller.key_id, job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobView,
    responses=JOB_RESPONSES,
)
def cancel_job(state: StateDep, caller: JobsWriter, job_id: str) -> JSONResponse:
    """Stop a job and keep its record: a queued job is cancelled at once, a running one at its
    worker's next step (status `cancelled`); an ended job is left as it is. Its media goes."""
    store, media, _ = state.jobs()
    job = _own_job(state, caller.key_id, job_id)
    if job.status not in FINAL_STATUSES:
        job = store.request_cancel(job_id) or job
        if job.status == JobStatus.CANCELLED:
            media.delete(job.media_path)
            store.set_media_path(job_id, None)
    return _accepted(job)


@router.delete("/{job_id}", status_code=204, responses=JOB_RESPONSES)
def delete_job(state: StateDep, caller: JobsWriter, job_id: str) -> Response:
    """Cancel the job if it has not ended, and delete it with its result, media and webhook
    records, at once: afterwards it is 404. A running job's worker stops at its next step and
    records nothing."""
    store, media, _ = state.jobs()
    job = _own_job(state, caller.key_id, job_id)
    store.request_cancel(job_id)
    media.delete(job.media_path)
    store.delete_job(job_id)
    log.info("job %s deleted (was %s)", job_id, job.status)
    return Response(status_code=204)
