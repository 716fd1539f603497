"""POST /v1/analyze: upload an image or a video, get the verdict and its evidence."""

from __future__ import annotations

import logging
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request

from ...metrics import observe_analysis
from ...pipeline import AnalysisOptions
from ...schema import AnalysisResult
from ..deps import AnalyzeCaller, AnalyzerDep, StateDep
from ..errors import ERROR_RESPONSES
from ..upload import multipart_body, save_upload

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["analysis"])

MULTIPART_BODY = multipart_body()


@router.post("/analyze", responses=ERROR_RESPONSES, openapi_extra=MULTIPART_BODY)
async def analyze(
    request: Request,
    state: StateDep,
    _caller: AnalyzeCaller,
    analyzer: AnalyzerDep,
    segments: Annotated[
        int | None, Query(ge=1, le=128, description="Segments the video is cut into.")
    ] = None,
    frames_per_segment: Annotated[
        int | None, Query(ge=1, le=64, description="Frames sampled from each segment.")
    ] = None,
) -> AnalysisResult:
    """Analyse one uploaded file. The upload streams to a temporary file, deleted afterwards;
    inference runs in a worker thread so that the event loop stays free."""
    settings = state.settings
    async with state.gate.admit():
        upload = await save_upload(request, settings.server.upload_dir, settings.limits.max_bytes)
        try:
            options = AnalysisOptions(segments=segments, frames_per_segment=frames_per_segment)
            async with state.gate.run():
                result = await anyio.to_thread.run_sync(
                    lambda: analyzer.analyze(upload.path, options, file_name=upload.filename)
                )
        finally:
            upload.path.unlink(missing_ok=True)
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
