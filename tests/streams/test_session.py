"""A stream session with the real model: frames faster than the analysis are dropped and
counted, a slow reader loses the oldest scores first, and nothing grows without bound."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import AnalysisOptions, Settings
from deepfake_stream.errors import CorruptMediaError
from deepfake_stream.media import ImagePicture, load_media
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.streams.session import Counters, EventBuffer, StreamSession


def test_frames_offered_faster_than_the_analysis_are_dropped_and_counted(
    settings: Settings, analyzer: Analyzer, fixtures: Path
) -> None:
    rgb = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB"))
    fast = settings.streams.model_copy(update={"real_fps": 30.0, "watch_fps": 30.0})
    session = StreamSession("s1", analyzer, fast, "test")
    offered = 300
    for index in range(offered):  # 10 s of 30 fps frames, offered in a burst
        session.offer(index / 30, lambda: ImagePicture(rgb))
    time.sleep(1.0)
    session.close("done")
    events = []
    while (event := session.events.get(timeout=1)) is not None:
        events.append(event)
    last = events[-1]
    assert last["type"] == "ended" and last["frames_received"] == offered
    # One analysis in flight, one frame waiting: the burst was dropped, not queued (a few
    # frames fall between samples by rounding and are neither).
    assert last["frames_analysed"] + last["frames_dropped"] <= offered
    assert last["frames_dropped"] > offered * 0.9
    assert 1 <= last["frames_analysed"] < 10


def test_a_full_buffer_drops_scores_before_alerts() -> None:
    counters = Counters()
    buffer = EventBuffer(3, counters)
    buffer.put({"type": "alert", "n": 0})
    for n in range(1, 6):
        buffer.put({"type": "scores", "n": n})
    kept = [buffer.get(timeout=0) for _ in range(3)]
    assert [e["type"] for e in kept if e] == ["alert", "scores", "scores"]
    assert [e["n"] for e in kept if e] == [0, 4, 5]  # the newest scores survive
    assert counters.events_dropped == 3
    buffer.close()
    assert buffer.get(timeout=0) is None


def test_a_bad_frame_is_reported_with_its_code_and_a_bug_as_internal_error(
    settings: Settings, analyzer: Analyzer, fixtures: Path
) -> None:
    def corrupt() -> ImagePicture:
        raise CorruptMediaError("undecodable frame")

    def broken() -> ImagePicture:
        raise RuntimeError("a bug")

    rgb = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB"))
    fast = settings.streams.model_copy(update={"real_fps": 30.0, "watch_fps": 30.0})
    session = StreamSession("s2", analyzer, fast, "test")
    for time_s, source in ((0.0, corrupt), (1.0, broken), (2.0, lambda: ImagePicture(rgb))):
        session.offer(time_s, source)
        deadline = time.monotonic() + 30
        while session._slot is not None and time.monotonic() < deadline:  # taken for analysis
            time.sleep(0.01)
    time.sleep(0.5)
    session.close("done")
    events = []
    while (event := session.events.get(timeout=1)) is not None:
        events.append(event)
    errors = [(e["time_s"], e["code"]) for e in events if e["type"] == "error"]
    assert errors == [(0.0, "corrupt_media"), (1.0, "internal_error")]
    assert any(e["type"] == "scores" and e["time_s"] == 2.0 for e in events)  # it went on


@pytest.mark.parametrize("name", ["fake_dfdc_2s.mp4", "real_hdtf_2s.mp4", "two_people_2s.mp4"])
def test_a_stream_fed_a_files_frames_ends_with_each_person_as_the_file_judges_them(
    settings: Settings, analyzer: Analyzer, fixtures: Path, name: str
) -> None:
    """The same faces, tracks and verdict policy: with a window as long as the file's
    sampled frames, each person's stream state is their per-person verdict in the file."""
    options = AnalysisOptions(segments=8, frames_per_segment=1)  # a person's mean over frames
    result = analyzer.analyze(fixtures / name, options)
    sampling = settings.sampling.model_copy(update={"segments": 8, "frames_per_segment": 1})
    media = load_media(fixtures / name, settings.limits, sampling)
    every_frame = settings.streams.model_copy(
        update={"real_fps": 30.0, "watch_fps": 30.0, "window_samples": len(media.frames)}
    )
    session = StreamSession(f"file-{name}", analyzer, every_frame, "test")
    for number, frame in enumerate(media.frames, start=1):
        assert session.offer(frame.time_s, lambda picture=frame.picture: picture)
        deadline = time.monotonic() + 60
        while session.counters.frames_analysed < number and time.monotonic() < deadline:
            time.sleep(0.01)
    stream_states = {p["track_id"]: p["state"] for p in session.people()}
    stream_scores = {p["track_id"]: p["score"] for p in session.people()}
    session.close("done")
    assert session.counters.frames_dropped == 0
    file_verdicts = {p.track_id: p.verdict.value for p in result.people}
    assert stream_states == file_verdicts, (stream_scores, result.people)
    for person in result.people:
        assert stream_scores[person.track_id] == pytest.approx(person.probability, abs=2e-3)
