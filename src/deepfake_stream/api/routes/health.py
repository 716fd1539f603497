"""Liveness and readiness probes."""

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
async def readyz(state: StateDep) -> Health:
    """200 once the job database and queue answer, and (embedded mode) the model is loaded."""
    if state.analyzes_in_process:
        state.ready_analyzer()
    await anyio.to_thread.run_sync(state.check_dependencies)
    return Health(status="ready")
