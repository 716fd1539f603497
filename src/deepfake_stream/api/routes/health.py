"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz")
async def healthz() -> Health:
    """The process is up (it may still be loading the model)."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"description": "Model not loaded (yet)."}})
async def readyz(state: StateDep) -> Health:
    """200 only once the model is loaded and requests can be served."""
    state.ready_analyzer()
    return Health(status="ready")
