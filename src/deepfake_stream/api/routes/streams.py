"""Live streams: WS /v1/streams (the client sends frames, receives events), server-side readers
of RTSP/RTMP/HLS/HTTP URLs (POST, GET, DELETE /v1/streams), and WS /v1/streams/{id}/events to
watch one. The protocol: the README (Streams) and docs/stream-events.schema.json."""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from ...errors import DeepfakeStreamError
from ...network import check_public_url
from ...streams.frames import (
    FrameClock,
    is_audio_message,
    parse_audio_message,
    parse_client_text,
    parse_frame_message,
)
from ...streams.sources import SCHEMES
from ..auth import Caller, Scope, require_scope
from ..deps import StateDep, caller_with
from ..errors import ERROR_RESPONSES, NOT_FOUND_RESPONSES
from ..state import ServiceState

if TYPE_CHECKING:
    from ...streams.registry import RunningStream

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/streams", tags=["streams"])

# WebSocket close codes (RFC 6455 and the IANA registry).
CLOSE_POLICY = 1008  # no valid API key
CLOSE_TRY_LATER = 1013  # the service is at its stream cap, or still loading
CLOSE_NORMAL = 1000
MAX_CLOSE_REASON = 120  # a close frame's reason must fit in 123 bytes

StreamsReader = Annotated[Caller, Depends(caller_with(Scope.JOBS_READ))]
StreamsWriter = Annotated[Caller, Depends(caller_with(Scope.JOBS_WRITE))]


class ReaderRequest(BaseModel):
    # Python's regex engine, as the OpenAPI document's readers (and Schemathesis) use it.
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")
    url: str = Field(
        description="rtsp://, rtmp://, http(s):// (HLS .m3u8 or a video file)",
        # A host name or IPv4 address (name an IPv6 source), in ASCII classes: regex engines
        # disagree on what \s covers.
        pattern=r"^(rtsps?|rtmps?|https?)://[A-Za-z0-9.-]+"
        r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
        r"([/?#][!-~]*)?$",
        max_length=2048,
    )
    callback_url: HttpUrl | None = Field(
        default=None,
        description="State changes, alerts and the end of the stream (`state`, `alert` and "
        "`ended` events) are POSTed here, signed (Standard Webhooks); not scores or heartbeats.",
    )


class PersonView(BaseModel):
    track_id: int
    state: str
    score: float


class StreamView(BaseModel):
    id: str
    source: str
    created_at: float
    sampling_fps: float
    frames_received: int
    frames_analysed: int
    frames_dropped: int
    events_dropped: int
    people: list[PersonView]


def _view(state: ServiceState, stream_id: str, key: str | None) -> StreamView:
    return _view_of(state.ready_streams().get(stream_id, key))


def _view_of(running: RunningStream) -> StreamView:
    session = running.session
    return StreamView(
        id=session.stream_id,
        source=session.source,
        created_at=running.created_at,
        sampling_fps=session.sampling_fps,
        **asdict(session.counters),
        people=[PersonView(**person) for person in session.people()],
    )


@router.post("", status_code=201, response_model=StreamView, responses=ERROR_RESPONSES)
async def start_reader(state: StateDep, caller: StreamsWriter, body: ReaderRequest) -> JSONResponse:
    """Read a live source (or a file, played as if live) on the server, until it ends or is
    deleted; watch its events on WS /v1/streams/{id}/events."""
    registry = state.ready_streams()  # an API front without the model refuses before any work
    allow = state.settings.webhooks.allow_private
    await anyio.to_thread.run_sync(check_public_url, body.url, allow, "url", SCHEMES)
    if body.callback_url is not None:
        await anyio.to_thread.run_sync(check_public_url, str(body.callback_url), allow)
    running = registry.start_reader(
        body.url, caller.key_id, str(body.callback_url) if body.callback_url else None
    )
    view = _view_of(running)  # (a source that fails at once may already have ended)
    return JSONResponse(
        view.model_dump(), status_code=201, headers={"Location": f"/v1/streams/{view.id}"}
    )


@router.get("", response_model=list[StreamView], responses=ERROR_RESPONSES)
def list_streams(state: StateDep, caller: StreamsReader) -> list[StreamView]:
    return [_view_of(running) for running in state.ready_streams().list(caller.key_id)]


@router.get("/{stream_id}", response_model=StreamView, responses=NOT_FOUND_RESPONSES)
def get_stream(state: StateDep, caller: StreamsReader, stream_id: str) -> StreamView:
    return _view(state, stream_id, caller.key_id)


@router.delete("/{stream_id}", status_code=204, responses=NOT_FOUND_RESPONSES)
def stop_stream(state: StateDep, caller: StreamsWriter, stream_id: str) -> None:
    registry = state.ready_streams()
    registry.get(stream_id, caller.key_id)
    registry.stop(stream_id, "stopped by the client")


async def _authenticate(websocket: WebSocket, scope: Scope) -> Caller | None:
    """The caller of a WebSocket (header, or ?api_key= for browsers); None after closing it."""
    state: ServiceState = websocket.app.state.service
    bearer = websocket.headers.get("authorization", "")
    presented = (
        bearer[7:].strip()
        if bearer.lower().startswith("bearer ")
        else websocket.headers.get("x-api-key") or websocket.query_params.get("api_key")
    )
    assert state.auth is not None
    try:
        caller = await anyio.to_thread.run_sync(state.auth.authenticate, presented)
        require_scope(caller, scope)
    except DeepfakeStreamError as exc:
        await _refuse(websocket, CLOSE_POLICY, exc.message)
        return None
    return caller


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with a code the client can read: a close before the handshake completes would
    reach it as a bare HTTP 403."""
    await websocket.accept()
    await websocket.close(code=code, reason=reason[:MAX_CLOSE_REASON])


@router.websocket("")
async def stream_socket(websocket: WebSocket) -> None:
    """Send frames and audio, receive events: a frame is a binary message of an 8-byte
    big-endian float64 (the frame's stream time in seconds) followed by a JPEG, PNG, WebP or BMP
    image; an audio chunk the float64 time of its first sample, the 4 bytes `PCM1`, then 16-bit
    little-endian mono PCM at 16 kHz (at most 10 s a message). The voice is judged in 3 s windows
    every 1.5 s, as one more person (track_id -1, channel voice)."""
    state: ServiceState = websocket.app.state.service
    caller = await _authenticate(websocket, Scope.ANALYZE)
    if caller is None:
        return
    try:
        registry = state.ready_streams()
        running = registry.open_socket(caller.key_id)
    except DeepfakeStreamError as exc:
        await _refuse(websocket, CLOSE_TRY_LATER, exc.message)
        return
    await websocket.accept()
    session = running.session
    limits = state.settings.limits
    clock, audio_clock = FrameClock(), FrameClock()

    async def send_events() -> None:
        # A client that leaves while events are sent ends the stream through the receive loop;
        # raised here, WebSocketDisconnect would reach uvicorn inside an ExceptionGroup.
        with suppress(WebSocketDisconnect):
            while (event := await session.events.get_async()) is not None:
                await websocket.send_json(event)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send_events)
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    data = message.get("bytes")
                    try:
                        if data is None:
                            if parse_client_text(message.get("text") or "").type == "close":
                                break
                            continue
                        if is_audio_message(data):
                            session.offer_audio(*parse_audio_message(data, audio_clock))
                            continue
                        time_s, picture = parse_frame_message(data, limits, clock)
                    except DeepfakeStreamError as exc:
                        session.report_error(exc.code, exc.message)
                        continue
                    session.offer(time_s, picture)
            finally:
                await anyio.to_thread.run_sync(
                    registry.stop, session.stream_id, "the client closed the stream"
                )
    except WebSocketDisconnect:
        pass
    await _close(websocket)


async def _close(websocket: WebSocket) -> None:
    """Close normally, unless the client has closed or gone already."""
    with suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=CLOSE_NORMAL)


@router.websocket("/{stream_id}/events")
async def watch_stream(websocket: WebSocket, stream_id: str) -> None:
    """Receive the events of a running stream (a server-side reader's, typically)."""
    state: ServiceState = websocket.app.state.service
    caller = await _authenticate(websocket, Scope.JOBS_READ)
    if caller is None:
        return
    try:
        running = state.ready_streams().get(stream_id, caller.key_id)
    except DeepfakeStreamError as exc:
        await _refuse(websocket, CLOSE_POLICY, exc.message)
        return
    await websocket.accept()
    from ...streams.session import EventBuffer

    buffer = EventBuffer(state.settings.streams.max_pending_events, running.session.counters)
    broadcaster = state.ready_streams().broadcaster
    broadcaster.subscribe(stream_id, buffer)
    # Scores go only to the stream's own buffer; watchers get alerts and state changes.
    try:
        async with anyio.create_task_group() as tasks:

            async def forward() -> None:
                with suppress(WebSocketDisconnect):  # gone: the receive loop sees it too
                    while (event := await buffer.get_async()) is not None:
                        await websocket.send_json(event)
                        if event["type"] == "ended":
                            break
                tasks.cancel_scope.cancel()

            tasks.start_soon(forward)
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            tasks.cancel_scope.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        broadcaster.unsubscribe(stream_id, buffer)
    await _close(websocket)
