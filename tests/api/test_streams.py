"""Live streams over real WebSockets and HTTP, with the real model: frames in, events out;
server-side readers of an HTTP-served file; the stream cap, auth, bad frames, Redis pub/sub."""

from __future__ import annotations

import http.server
import io
import json
import logging
import math
import struct
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import av
import pytest
import websockets
from websockets.sync.client import connect

from deepfake_stream.api.auth import Scope, create_key
from deepfake_stream.config import Settings
from deepfake_stream.jobs.store import JobStore
from deepfake_stream.pipeline import Analyzer
from support.live import live_server
from support.settings import isolated

EVENT_TIMEOUT_S = 60.0
EVENT_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "stream-events.schema.json").read_text()
)


def conforms(events: list[dict[str, Any]]) -> None:
    """Every event matches the documented protocol."""
    import jsonschema

    for event in events:
        jsonschema.validate(event, EVENT_SCHEMA)


def configured(settings: Settings, tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    # Fast sampling, so that a 2 s fixture yields several analyses.
    streams = {"real_fps": 2.0, "watch_fps": 4.0, **sections.pop("streams", {})}
    return isolated(settings, tmp_path, streams=streams, **sections)


def jpeg_frames(video: Path) -> list[tuple[float, bytes]]:
    frames = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            buffer = io.BytesIO()
            frame.to_image().save(buffer, format="JPEG", quality=90)
            frames.append((float(frame.time or 0.0), buffer.getvalue()))
    return frames


def ws_url(client: Any, path: str = "/v1/streams") -> str:
    return str(client.base_url).replace("http://", "ws://") + path


def read_until(socket: Any, wanted: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        event = json.loads(socket.recv(timeout=EVENT_TIMEOUT_S))
        events.append(event)
        if event["type"] == wanted:
            return events
    raise AssertionError(f"no {wanted} event: {events}")


def test_a_websocket_stream_scores_people_and_reports_drops(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    frames = jpeg_frames(fixtures / "fake_dfdc_2s.mp4")
    with live_server(configured(settings, tmp_path), analyzer) as client:
        with connect(ws_url(client)) as socket:
            started = json.loads(socket.recv(timeout=EVENT_TIMEOUT_S))
            assert started["type"] == "started" and started["v"] == "2.0"
            # The first frame, analysed before anything else is sent: waiting on its event
            # rather than on time keeps a loaded machine from dropping it for a later one.
            socket.send(struct.pack(">d", frames[0][0]) + frames[0][1])
            first_events = read_until(socket, "scores")
            for time_s, image in frames[1:]:  # as fast as possible: most frames are not due
                socket.send(struct.pack(">d", time_s) + image)
            last_time = frames[-1][0]
            # Not due yet (the sampler ignores it), and not backwards: counted, never decoded.
            socket.send(struct.pack(">d", last_time) + b"not an image at all")
            socket.send("hello")
            image = frames[0][1]
            # Times that are no times: not finite, negative, absurd, going backwards.
            for bad_time in (math.nan, math.inf, -7.02e307, 1e300, last_time - 1.0):
                socket.send(struct.pack(">d", bad_time) + image)
            events = first_events
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while time.monotonic() < deadline and not (
                sum(e["type"] == "scores" for e in events) >= 2
                and sum(e.get("code") == "invalid_frame_time" for e in events) >= 5
                and sum(e.get("code") == "invalid_parameters" for e in events) >= 1
            ):
                events.append(json.loads(socket.recv(timeout=EVENT_TIMEOUT_S)))
            # JSON, not bytes: any spacing closes the stream.
            socket.send('{ "type" : "close" }\n')
            events += read_until(socket, "ended")
        stream_id = started["stream"]
        assert client.get(f"/v1/streams/{stream_id}").status_code == 404  # gone once closed
        metrics = client.get("/metrics").text
        assert "dfs_streams_active 0.0" in metrics
        assert 'dfs_stream_frames_total{outcome="analysed"}' in metrics

    conforms([started, *events])
    scores = [e for e in events if e["type"] == "scores"]
    assert scores and all(e["stream"] == stream_id for e in events)
    people = [p for e in scores for p in e["people"]]
    assert people and all(0 <= p["probability"] <= 1 for p in people)
    assert {p["state"] for p in people} <= {"real", "uncertain", "fake"}
    assert all(set(p["branches"]) == {"face"} for p in people)
    # A DFDC fake: its person is never called real.
    assert all(p["state"] != "real" for p in people)
    last = events[-1]
    assert last["type"] == "ended" and last["frames_received"] == len(frames) + 1
    # The sampler kept a few frames; none waited without bound.
    assert 2 <= last["frames_analysed"] < len(frames)
    assert {"frames_dropped", "events_dropped"} <= set(last)
    errors = [e for e in events if e["type"] == "error"]
    assert {e["code"] for e in errors} >= {"invalid_parameters", "invalid_frame_time"}
    assert sum(e["code"] == "invalid_frame_time" for e in errors) == 5
    assert all(e["time_s"] is None or e["time_s"] >= 0 for e in events if "time_s" in e)


def test_clients_that_leave_without_reading_the_end_leave_no_error_behind(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    # Found by the fuzzing harness: sending `ended` to a client already gone raised
    # WebSocketDisconnect inside the task group, which uvicorn logged as an unhandled error.
    errors: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append  # type: ignore[method-assign]
    uvicorn_errors = logging.getLogger("uvicorn.error")
    frame = struct.pack(">d", 0.0) + (fixtures / "photo.jpg").read_bytes()
    with live_server(configured(settings, tmp_path), analyzer) as client:
        uvicorn_errors.addHandler(handler)
        try:
            for _ in range(4):
                with connect(ws_url(client)) as socket:
                    socket.recv(timeout=EVENT_TIMEOUT_S)  # started
                    socket.send(frame)
                    socket.send('{"type":"close"}')
                # ...and gone, without reading the scores or the end
            time.sleep(1.0)
        finally:
            uvicorn_errors.removeHandler(handler)
    assert not errors, [record.getMessage() for record in errors]


def test_a_server_side_reader_plays_a_file_and_alerts(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, served_fixtures: str
) -> None:
    allowed = configured(settings, tmp_path, webhooks={"allow_private": True})
    with live_server(allowed, analyzer) as client:
        created = client.post("/v1/streams", json={"url": f"{served_fixtures}/fake_dfdc_2s.mp4"})
        assert created.status_code == 201, created.text
        stream_id = created.json()["id"]
        assert created.headers["location"] == f"/v1/streams/{stream_id}"
        with connect(ws_url(client, f"/v1/streams/{stream_id}/events")) as watcher:
            events = read_until(watcher, "ended")
        assert [s["id"] for s in client.get("/v1/streams").json()] == []
    conforms(events)
    states = [e["state"] for e in events if e["type"] == "state"]
    assert "fake" in states  # the file's verdict for its person, held for the window
    assert events[-1]["reason"] == "source ended" and events[-1]["frames_analysed"] >= 2


def test_private_and_odd_sources_are_refused(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    with live_server(configured(settings, tmp_path), analyzer) as client:
        private = client.post("/v1/streams", json={"url": "rtsp://127.0.0.1:8554/cam"})
        assert private.status_code == 422 and "non-public" in private.json()["error"]["message"]
        local = client.post("/v1/streams", json={"url": "file:///etc/passwd"})
        assert local.status_code == 422


def test_streams_beyond_the_cap_and_without_a_key_are_refused(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    capped = configured(settings, tmp_path, streams={"max_concurrent": 1}, auth={"required": True})
    store = JobStore(capped.database.url)
    _, key = create_key(store, "cam", frozenset(Scope), 1000)
    store.close()
    with live_server(capped, analyzer) as client:
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as refused:
            with connect(ws_url(client)) as socket:
                socket.recv(timeout=10)
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 1008
        with connect(ws_url(client) + f"?api_key={key}") as first:
            assert json.loads(first.recv(timeout=EVENT_TIMEOUT_S))["type"] == "started"
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as full:
                with connect(ws_url(client), additional_headers={"X-API-Key": key}) as second:
                    second.recv(timeout=10)
            assert full.value.rcvd is not None and full.value.rcvd.code == 1013


def test_alerts_and_states_go_to_redis_pub_sub(
    settings: Settings,
    analyzer: Analyzer,
    tmp_path: Path,
    served_fixtures: str,
    redis_namespace: str,
) -> None:
    import redis

    from deepfake_stream.streams.broadcast import channel_for

    published = configured(
        settings,
        tmp_path,
        streams={"redis_url": "redis://127.0.0.1:6379/0"},
        queue={"namespace": redis_namespace},
        webhooks={"allow_private": True},
    )
    subscriber = redis.Redis.from_url("redis://127.0.0.1:6379/0").pubsub()
    subscriber.psubscribe(channel_for(redis_namespace, "*"))
    with live_server(published, analyzer) as client:
        created = client.post("/v1/streams", json={"url": f"{served_fixtures}/fake_dfdc_2s.mp4"})
        stream_id = created.json()["id"]
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while time.monotonic() < deadline and not any(e["type"] == "ended" for e in received):
            message = subscriber.get_message(timeout=1.0)
            if message is not None and message["type"] == "pmessage":
                assert message["channel"].decode() == channel_for(redis_namespace, stream_id)
                received.append(json.loads(message["data"]))
    subscriber.close()
    conforms(received)
    types = [e["type"] for e in received]
    assert types[0] == "started" and types[-1] == "ended" and "state" in types
    assert "scores" not in types  # pub/sub carries what matters, not every score


def test_an_hls_source_is_read_and_its_states_and_alerts_reach_the_signed_webhook(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    """An HLS playlist made here from the fake fixture, served over HTTP; the stream's state
    changes, alerts and end are POSTed, signed, to its callback."""
    from deepfake_stream.network import SECRET_NAME, verify
    from support.receiver import ReceiverServer

    hls = tmp_path / "hls"
    hls.mkdir()
    with (
        av.open(str(fixtures / "fake_dfdc_2s.mp4")) as source,
        av.open(
            str(hls / "live.m3u8"), mode="w", format="hls", options={"hls_time": "1"}
        ) as target,
    ):
        incoming = source.streams.video[0]
        outgoing = target.add_stream_from_template(incoming)
        for packet in source.demux(incoming):
            if packet.dts is None:
                continue
            packet.stream = outgoing
            target.mux(packet)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(hls))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = ReceiverServer()
    allowed = configured(settings, tmp_path, webhooks={"allow_private": True})
    try:
        with live_server(allowed, analyzer) as client:
            url = f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
            created = client.post(
                "/v1/streams", json={"url": url, "callback_url": receiver.receiver.url}
            )
            assert created.status_code == 201, created.text
            with connect(ws_url(client, f"/v1/streams/{created.json()['id']}/events")) as watcher:
                events = read_until(watcher, "ended")
            conforms(events)
            assert events[-1]["frames_analysed"] >= 2
            alerts = [e for e in events if e["type"] == "alert"]
            assert alerts, events  # the DFDC fake raises one
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                b'"type":"ended"' in d.body for d in receiver.receiver.deliveries
            ):
                time.sleep(0.05)
            secret = JobStore(allowed.database.url).secret(SECRET_NAME, str)
        payloads = [verify(secret, d.body, d.headers) for d in receiver.receiver.deliveries]
        assert all(p["stream"] == created.json()["id"] for p in payloads)
        # The person's state changes, the alert and the end; not the scores of every frame.
        assert {p["type"] for p in payloads} == {"state", "alert", "ended"}, payloads
        delivered = [p for p in payloads if p["type"] == "alert"]
        assert sorted(delivered, key=json.dumps) == sorted(alerts, key=json.dumps)
    finally:
        receiver.close()
        server.shutdown()
        server.server_close()


def pcm_chunks(path: Path, chunk_s: float = 0.5) -> list[tuple[float, bytes]]:
    """The fixture's audio as the WS audio messages' payloads: (time, PCM16LE mono 16 kHz)."""
    from deepfake_stream.audio.decode import load_audio

    audio = load_audio(path, Settings().limits)
    assert audio is not None
    pcm = (audio.samples * 32767).astype("<i2")
    step = int(chunk_s * 16_000)
    return [(i / 16_000, pcm[i : i + step].tobytes()) for i in range(0, len(pcm), step)]


def test_an_audio_only_stream_judges_the_voice_in_windows(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    """The stream's audio, in half-second chunks, as a phone call's would come: 3 s windows
    every 1.5 s, each scored, the voice judged as one more person with its own state."""
    chunks = pcm_chunks(fixtures / "audio" / "real_dc_tts_LJ001-0010.flac")
    with live_server(configured(settings, tmp_path), analyzer) as client:
        with connect(ws_url(client)) as socket:
            started = json.loads(socket.recv(timeout=EVENT_TIMEOUT_S))
            for time_s, pcm in chunks:
                socket.send(struct.pack(">d", time_s) + b"PCM1" + pcm)
            socket.send(struct.pack(">d", 99.0) + b"PCM1" + b"\x00")  # half a sample
            events = []
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while time.monotonic() < deadline and not (
                sum(e["type"] == "voice" for e in events) >= 2
                and any(e["type"] == "error" for e in events)
            ):
                events.append(json.loads(socket.recv(timeout=EVENT_TIMEOUT_S)))
            socket.send('{"type": "close"}')
            events += read_until(socket, "ended")
    conforms([started, *events])
    voice = [e for e in events if e["type"] == "voice"]
    # 5 s of speech: windows at 0 and 1.5 s (the one at 3 s would end past the audio).
    assert [(e["time_s"], e["end_s"]) for e in voice] == [(0.0, 3.0), (1.5, 4.5)]
    assert all(0 <= e["probability"] <= 1 and e["speech_s"] >= 1.5 for e in voice)
    assert {e["state"] for e in voice} <= {"real", "uncertain", "fake"}
    # A real voice from a microphone the model never heard is not called fake.
    assert all(e["state"] != "fake" for e in voice)
    states = [e for e in events if e["type"] == "state"]
    assert all(e["channel"] == "voice" and e["track_id"] == -1 for e in states)
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["code"] == "invalid_parameters" and "16-bit" in error["message"]
