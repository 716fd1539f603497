"""The live stream events, typed: what WS /v1/streams, WS /v1/streams/{id}/events, the Redis
pub/sub channel and `deepfake-stream watch --json` send, one JSON object each.

docs/stream-events.schema.json is generated from these models:
`python -m deepfake_stream.streams.events > docs/stream-events.schema.json`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .state import AlertRule, PersonState

# 2.0: a person's state is the verdict a file would give them (real, uncertain, fake), and
# state events carry the warnings that explain it.
PROTOCOL_VERSION: Literal["2.0"] = "2.0"


class EventBase(BaseModel):
    # Every field is always sent: the schema says so (required), defaults or not.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    type: str

    v: Literal["2.0"] = Field(default=PROTOCOL_VERSION, description="Protocol version.")
    stream: str = Field(description="Stream id.")
    at: float = Field(description="Server wall-clock time, Unix seconds.")
    frames_received: int = Field(ge=0)
    frames_analysed: int = Field(ge=0)
    frames_dropped: int = Field(
        ge=0, description="Due frames replaced by a newer one before the analysis took them."
    )
    events_dropped: int = Field(ge=0, description="Score events a slow client never read.")


class StartedEvent(EventBase):
    type: Literal["started"] = "started"
    source: str = Field(description='"websocket", or the URL or file read.')
    sampling_fps: float


class HeartbeatEvent(EventBase):
    type: Literal["heartbeat"] = "heartbeat"
    sampling_fps: float


class PersonScore(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    track_id: int
    probability: float = Field(ge=0, le=1, description="This frame's fused fake probability.")
    score: float = Field(ge=0, le=1, description="The windowed score the state follows.")
    state: PersonState
    box: tuple[float, float, float, float]
    branches: dict[str, float] = Field(description="This frame's probability from each branch.")


class ScoresEvent(EventBase):
    type: Literal["scores"] = "scores"
    time_s: float = Field(description="Stream time of the analysed frame, seconds.")
    people: list[PersonScore]
    sampling_fps: float


Channel = Literal["face", "voice"]
VOICE_TRACK_ID = -1  # the stream's audio, judged as one voice


class VoiceEvent(EventBase):
    """A window of the stream's audio scored by the voice branch."""

    type: Literal["voice"] = "voice"
    time_s: float = Field(description="Stream time of the window's start, seconds.")
    end_s: float
    speech_s: float = Field(description="Seconds of speech in the window.")
    probability: float = Field(ge=0, le=1, description="The window's spoof probability.")
    score: float = Field(ge=0, le=1, description="The windowed score the voice state follows.")
    state: PersonState


class StateEvent(EventBase):
    type: Literal["state"] = "state"
    time_s: float
    channel: Channel = Field(
        default="face", description=f"face: a person's face; voice: the audio (track_id {-1})."
    )
    track_id: int
    previous: PersonState
    state: PersonState
    score: float
    reason: Literal["score", "lost"] = Field(
        description="score: the windowed score moved it; lost: the person was not seen for "
        "streams.lost_after_s (their state ends as uncertain)."
    )
    warnings: list[str] = Field(
        default=[], description="Why the state is what it is, as a file result's warnings."
    )


class AlertEvent(EventBase):
    type: Literal["alert"] = "alert"
    time_s: float
    channel: Channel = Field(default="face", description="As in the state event.")
    track_id: int
    rule: AlertRule
    score: float
    message: str


class ErrorEvent(EventBase):
    type: Literal["error"] = "error"
    time_s: float | None = Field(
        default=None, description="The frame's stream time, when a frame caused it."
    )
    code: str
    message: str


class EndedEvent(EventBase):
    type: Literal["ended"] = "ended"
    reason: str


StreamEvent = Annotated[
    StartedEvent
    | HeartbeatEvent
    | ScoresEvent
    | VoiceEvent
    | StateEvent
    | AlertEvent
    | ErrorEvent
    | EndedEvent,
    Field(discriminator="type"),
]
STREAM_EVENT = TypeAdapter(StreamEvent)


def event_schema() -> dict[str, Any]:
    """The JSON Schema of one event (docs/stream-events.schema.json)."""
    schema = STREAM_EVENT.json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/deepfakestream/deepfake-stream/docs/stream-events.schema.json",
        "title": f"DeepfakeStream live stream event, protocol {PROTOCOL_VERSION}",
        "description": "One JSON text message from WS /v1/streams, WS /v1/streams/{id}/events, "
        "Redis pub/sub channel <namespace>:streams:<id>, or `deepfake-stream watch --json`.",
        **schema,
    }


if __name__ == "__main__":
    print(json.dumps(event_schema(), indent=2))
