"""build_app(settings): the FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..config import Settings
from ..web import STATIC_DIR
from .errors import install_error_handlers
from .guard import RequestGuardMiddleware
from .middleware import RequestContextMiddleware
from .routes import analyze, docs, health, jobs, metrics, model, playground, streams
from .state import ServiceState

if TYPE_CHECKING:  # PyTorch loads only where the model does: not in the job API front
    from ..pipeline import Analyzer

log = logging.getLogger(__name__)


def build_app(settings: Settings, analyzer: Analyzer | None = None) -> FastAPI:
    """The service. The model loads once, in the background, when the app starts.

    A loaded analyzer may be passed to share one between apps (tests, embedding); analysis then
    follows the analyzer's own settings, and only `server` and `limits.max_bytes` (the upload
    cut-off) come from `settings`.
    """
    state = ServiceState(settings, analyzer)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(state.open_jobs)
        loading = asyncio.create_task(state.load())
        try:
            yield
        finally:
            if not loading.done():
                await loading  # a worker thread cannot be interrupted; let it finish
            await anyio.to_thread.run_sync(state.close_jobs)
            if state.analyzer is not None and analyzer is None:
                state.analyzer.close()

    app = FastAPI(
        title="DeepfakeStream",
        version=__version__,
        summary="Tells whether an image or a video shows a manipulated (deepfake) face.",
        lifespan=lifespan,
        # routes/docs.py serves both from this package's files instead of a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = state
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(analyze.router)
    app.include_router(model.router)
    app.include_router(jobs.router)
    app.include_router(metrics.router)
    app.include_router(streams.router)
    app.include_router(playground.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets")
    app.add_middleware(
        RequestGuardMiddleware,
        server=settings.server,
        upload_limit=settings.limits.max_bytes,
        authenticator=lambda: state.auth,
    )
    app.add_middleware(RequestContextMiddleware)  # the outermost: every response has its id
    return app
