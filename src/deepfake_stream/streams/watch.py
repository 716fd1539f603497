"""`deepfake-stream watch URL|FILE`: a stream (or a file played as if live) analysed in this
process, one line per event on stdout."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from pathlib import Path
from typing import TextIO

from ..config import Settings
from ..errors import InvalidParametersError, MediaError
from .ingest import StreamReader
from .session import Event, StreamSession
from .sources import SCHEMES


def describe(event: Event) -> str:
    """One readable line for an event."""
    at = f"{event['time_s']:8.2f}s" if event.get("time_s") is not None else " " * 9
    kind = event["type"]
    if kind == "state":
        detail = (
            f"person {event['track_id']}: {event['previous'].upper()} -> "
            f"{event['state'].upper()} (score {event['score']:.2f})"
            + "".join(f"; {warning}" for warning in event.get("warnings", []))
        )
    elif kind == "alert":
        detail = f"ALERT {event['rule']}: {event['message']}"
    elif kind == "scores":
        detail = (
            ", ".join(
                f"person {p['track_id']} {p['state']} {p['score']:.2f}" for p in event["people"]
            )
            or "no face"
        )
    elif kind == "error":
        detail = f"{event['code']}: {event['message']}"
    elif kind == "ended":
        detail = (
            f"{event['reason']}; {event['frames_analysed']} of {event['frames_received']} "
            f"frames analysed, {event['frames_dropped']} dropped"
        )
    else:
        detail = f"sampling {event.get('sampling_fps', '')} fps"
    return f"{at} {kind:<9} {detail}"


def watch(
    settings: Settings, source: str, as_json: bool, scores: bool, out: TextIO = sys.stdout
) -> int:
    """Analyse the source until it ends (or Ctrl-C); the number of alerts raised."""
    from ..pipeline import Analyzer

    if "://" in source:
        if source.split("://", 1)[0] not in SCHEMES:
            raise InvalidParametersError(f"unsupported stream url {source}")
    elif not Path(source).is_file():
        raise MediaError(f"no such file: {source}")
    analyzer = Analyzer(settings)
    session = StreamSession(uuid.uuid4().hex, analyzer, settings.streams, source)
    ended = threading.Event()

    def on_end(reason: str) -> None:
        session.close(reason)
        ended.set()

    reader = StreamReader(source, session, on_end=on_end, max_spool_bytes=settings.limits.max_bytes)
    alerts = 0
    reader.start()
    try:
        while (event := session.events.get()) is not None:
            alerts += event["type"] == "alert"
            if event["type"] in ("scores", "heartbeat") and not scores:
                continue
            print(json.dumps(event) if as_json else describe(event), file=out, flush=True)
    except KeyboardInterrupt:
        reader.stop()
        session.close("interrupted")
    finally:
        ended.wait(timeout=5)
        analyzer.close()
    return alerts
