"""What a client sees of a job: the body of GET /v1/jobs/{id} and of its webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .store import JobRow, JobStatus, WebhookState


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    message: str


class JobView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: JobStatus
    stage: str | None = Field(description="The analysis stage in progress (decode, detect...).")
    progress: float = Field(ge=0.0, le=1.0)
    file_name: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="When the result and media are deleted.")
    attempts: int = Field(description="Times a worker started this job (more after a crash).")
    callback_url: str | None
    webhook: WebhookState
    keep_media: bool
    options: dict[str, Any]
    result: dict[str, Any] | None = Field(
        description="The analysis result (the schema of POST /v1/analyze) once succeeded."
    )
    error: JobError | None


class JobPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs: list[JobView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


def job_view(job: JobRow) -> JobView:
    return JobView(
        id=job.id,
        status=JobStatus(job.status),
        stage=job.stage,
        progress=job.progress,
        file_name=job.file_name,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        attempts=job.attempts,
        callback_url=job.callback_url,
        webhook=WebhookState(job.webhook_state),
        keep_media=job.keep_media,
        options=job.options,
        result=job.result,
        error=None
        if job.error_code is None
        else JobError(code=job.error_code, message=job.error_message or ""),
    )
