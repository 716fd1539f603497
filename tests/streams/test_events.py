from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from deepfake_stream.streams.events import (
    PROTOCOL_VERSION,
    STREAM_EVENT,
    ErrorEvent,
    StateEvent,
    event_schema,
)
from deepfake_stream.streams.state import PersonState

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "stream-events.schema.json"
COUNTERS = {"frames_received": 3, "frames_analysed": 2, "frames_dropped": 1, "events_dropped": 0}


def test_the_committed_schema_is_the_one_the_event_models_generate() -> None:
    assert json.loads(SCHEMA.read_text()) == event_schema(), (
        "regenerate it: python -m deepfake_stream.streams.events > docs/stream-events.schema.json"
    )


def test_events_round_trip_through_their_json_and_the_schema() -> None:
    import jsonschema

    state = StateEvent(
        stream="s",
        at=1.5,
        **COUNTERS,
        time_s=2.0,
        track_id=0,
        previous=PersonState.UNCERTAIN,
        state=PersonState.FAKE,
        score=0.93,
        reason="score",
    )
    wire = state.model_dump(mode="json")
    assert wire["v"] == PROTOCOL_VERSION and wire["state"] == "fake" and wire["warnings"] == []
    jsonschema.validate(wire, event_schema())
    assert STREAM_EVENT.validate_python(wire) == state
    error = ErrorEvent(stream="s", at=1.0, **COUNTERS, code="corrupt_media", message="bad")
    jsonschema.validate(error.model_dump(mode="json"), event_schema())


def test_an_event_with_an_unknown_state_or_field_is_invalid() -> None:
    import jsonschema

    good = ErrorEvent(stream="s", at=1.0, **COUNTERS, code="c", message="m").model_dump(mode="json")
    with pytest.raises(ValidationError):
        STREAM_EVENT.validate_python({**good, "extra": 1})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "type": "state", "state": "alert"}, event_schema())
