"""Liveness and readiness probes, by GET or HEAD (the same status and headers, no body)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import StateDep
from ..errors import ErrorBody

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)  # what load balancers and uptime checks send
async def healthz() -> Health:
    """The process is up (it may still be loading the model)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    responses={
        503: {
            "model": ErrorBody,
            "description": "Model not loaded (yet), or the job database "
            "or queue cannot be reached.",
        }
    },
)
@router.head("/readyz", include_in_schema=False)
async def readyz(state: StateDep) -> Health:
    """200 once the job database and queue answer, and (embedded mode) the model is loaded."""
    if state.analyzes_in_process:
        state.ready_analyzer()
    await anyio.to_thread.run_sync(state.check_dependencies)
    return Health(status="ready")
