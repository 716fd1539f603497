"""Annotated dependencies for the routers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .auth import Caller, Scope, require_scope
from .state import ServiceState

# Both appear in the OpenAPI document as security schemes; either one carries the key.
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_caller(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Caller:
    """Who is calling: the API key's owner, or anonymous when auth is off and no key is sent.
    A sync function: FastAPI runs it on a thread, so the key lookup never blocks the loop."""
    # A request with a body was authenticated before its body was read (guard.py).
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        presented = bearer.credentials if bearer is not None else api_key
        assert state.auth is not None
        caller = state.auth.authenticate(presented)
    request.state.api_key_id = caller.key_id  # for the access log
    return caller


def caller_with(scope: Scope) -> Callable[[Caller], Caller]:
    def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        require_scope(caller, scope)
        return caller

    return check


CallerDep = Annotated[Caller, Depends(get_caller)]
AnalyzeCaller = Annotated[Caller, Depends(caller_with(Scope.ANALYZE))]
JobsReader = Annotated[Caller, Depends(caller_with(Scope.JOBS_READ))]
JobsWriter = Annotated[Caller, Depends(caller_with(Scope.JOBS_WRITE))]
