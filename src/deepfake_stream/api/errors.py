"""All errors leave the API as JSON {"error": {"code", "message"}} with the right status."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import DeepfakeStreamError, RateLimitedError, UnauthorizedError

log = logging.getLogger(__name__)

# Every 503 says when to come back: while the model loads, or while the service is busy.
RETRY_AFTER_S = 5

HTTP_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameters",
    503: "not_ready",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def service_error_response(exc: DeepfakeStreamError) -> JSONResponse:
    headers = None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    elif isinstance(exc, UnauthorizedError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif exc.http_status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return error_response(exc.http_status, exc.code, exc.message, headers)


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeepfakeStreamError)
    if exc.http_status >= 500 and exc.http_status != 503:  # 503s are expected while loading
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return service_error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return error_response(422, "invalid_parameters", problems)


def allowed_methods(request: Request, raised: str | None) -> list[str]:
    """Every method some route serves at this path, and those the raiser named (`raised`: a
    mount's own Allow, as StaticFiles sends). Starlette's own Allow names only the first route
    that matched the path (GET, where GET and DELETE share /v1/jobs/{job_id}); FastAPI keeps
    included routers apart from app.router.routes, so they are walked through their contexts."""
    methods = {method.strip() for method in (raised or "").split(",") if method.strip()}
    for route in iter_route_contexts(request.app.router.routes):
        path_regex = getattr(route, "path_regex", None)
        if route.methods and path_regex is not None and path_regex.match(request.url.path):
            methods |= route.methods
    return sorted(methods)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_STATUS_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request, headers.get("Allow")))
    return error_response(exc.status_code, code, str(exc.detail), headers or None)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DeepfakeStreamError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Corrupt or empty media, or a malformed upload.",
        408: "The request body arrived too slowly.",
        413: "File or request body too large, video too long, or too many pixels.",
        415: "Not a supported image, video or audio type.",
        422: "Invalid parameters, the file field is missing, or the analysis ran past its "
        "time limit.",
        401: "No API key, or an unknown or revoked one (when auth is on).",
        429: "The key's rate limit is reached; see Retry-After.",
        503: "The model is not loaded yet, or too many requests are waiting; see Retry-After.",
    }.items()
}


# For routes about one job or stream: it may not exist (or belong to another key).
NOT_FOUND_RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    404: {"model": ErrorBody, "description": "No such job or stream (or not this key's)."},
}
