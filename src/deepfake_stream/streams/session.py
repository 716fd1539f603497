"""A live stream session: frames offered at any rate; the sampler keeps those due at the
state's rate (slow while everyone is CLEAR, fast once anyone is not); one analysis at a time on
the session's own thread; events out through a bounded buffer.

Backpressure: a due frame that arrives while the previous one is still waiting for the
analysis replaces it (the older is dropped and counted); a client that reads events slower than
they come loses the oldest score events (counted). Nothing queues without bound.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from ..config import StreamSettings
from ..detection.faces import ConfirmedTracker
from ..errors import DeepfakeStreamError
from ..media import Picture
from ..metrics import STREAM_ALERTS, STREAM_FRAMES
from ..pipeline import Analyzer
from .events import (
    AlertEvent,
    EndedEvent,
    ErrorEvent,
    EventBase,
    HeartbeatEvent,
    PersonScore,
    ScoresEvent,
    StartedEvent,
    StateEvent,
    VoiceEvent,
)
from .state import AlertOptions, PersonMonitor, PersonState, StateOptions
from .voice import DueWindow, VoiceChannel, score_window, voice_monitor

log = logging.getLogger(__name__)

# Audio windows waiting for the analysis thread beyond this many: the oldest are dropped.
MAX_WAITING_WINDOWS = 4
# Events worth telling the world about, beyond the stream's own client.
PUBLISHED_EVENTS = frozenset({"alert", "state", "started", "ended"})

# A frame's pixels, made only when the sampler keeps it (decoding is not free).
PictureSource = Callable[[], Picture]
Event = dict[str, Any]  # a StreamEvent as JSON, as it goes out
AnyEvent = TypeVar("AnyEvent", bound=EventBase)


@dataclass
class Counters:
    frames_received: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0  # due, but replaced by a newer frame before the analysis took it
    events_dropped: int = 0  # score events a slow client never read


class EventBuffer:
    """Bounded events between the session's thread and a reader: when full, the oldest
    `scores` event gives way (state changes and alerts are kept before scores are)."""

    def __init__(self, capacity: int, counters: Counters) -> None:
        self._events: deque[Event] = deque()
        self._capacity = capacity
        self._counters = counters
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.closed = False

    def put(self, event: Event) -> None:
        with self._lock:
            if len(self._events) >= self._capacity:
                victim = next(
                    (e for e in self._events if e["type"] in ("scores", "heartbeat")),
                    self._events[0],
                )
                self._events.remove(victim)
                self._counters.events_dropped += 1
            self._events.append(event)
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event (blocking); None once closed and empty, or after timeout."""
        with self._lock:
            if not self._ready.wait_for(lambda: self._events or self.closed, timeout):
                return None
            return self._events.popleft() if self._events else None

    async def get_async(self) -> Event | None:
        while True:
            with self._lock:
                if self._events:
                    return self._events.popleft()
                if self.closed:
                    return None
                flag = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), flag))
            await flag.wait()


class StreamSession:
    """One stream: offer() frames from any thread; events come out of `events`."""

    def __init__(
        self,
        stream_id: str,
        analyzer: Analyzer,
        settings: StreamSettings,
        source: str,
        publish: Callable[[Event], None] | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.publish = publish  # alerts and state changes also go here (pub/sub, webhooks)
        self.source = source  # "websocket", or the URL read
        self.analyzer = analyzer
        self.settings = settings
        self.counters = Counters()
        self.events = EventBuffer(settings.max_pending_events, self.counters)
        self.started_at = time.time()
        self._states = StateOptions(
            window_samples=settings.window_samples, hysteresis_logit=settings.hysteresis_logit
        )
        self._alerts = AlertOptions(
            spike_rise=settings.spike_rise,
            spike_within_s=settings.spike_within_s,
            sustained_s=settings.sustained_s,
            cooldown_s=settings.cooldown_s,
        )
        self._tracker = ConfirmedTracker(analyzer.settings.faces.min_confidence)
        self._search = analyzer.face_search()
        self._monitors: dict[int, PersonMonitor] = {}
        self._next_due = float("-inf")
        self._slot: tuple[float, PictureSource] | None = None
        self._voice = VoiceChannel()
        self._voice_monitor: PersonMonitor | None = None
        self._audio_slot: list[DueWindow] = []  # windows waiting, newest last
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._last_event = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"dfs-stream-{stream_id[:8]}", daemon=True
        )
        self._thread.start()

    # Frames in -----------------------------------------------------------------------------

    @property
    def sampling_fps(self) -> float:
        # Nobody in view is not "everyone real": a face is looked for at the watchful rate.
        all_real = bool(self._monitors) and all(
            m.state is PersonState.REAL for m in self._monitors.values()
        )
        return self.settings.real_fps if all_real else self.settings.watch_fps

    def offer(self, time_s: float, picture: PictureSource) -> bool:
        """Hand over a frame (its stream time in seconds); True if it was kept for analysis."""
        with self._lock:
            self.counters.frames_received += 1
            if self._stopping or time_s < self._next_due:
                return False
            if self._slot is not None:
                self.counters.frames_dropped += 1  # the waiting frame is stale now
                STREAM_FRAMES.labels("dropped").inc()
            self._slot = (time_s, picture)
            self._next_due = time_s + 1.0 / self.sampling_fps
            self._wake.notify()
            return True

    @property
    def hears_voice(self) -> bool:
        """Whether offered audio is judged (the voice branch is on)."""
        return self.analyzer.voice is not None

    def offer_audio(self, time_s: float, samples: np.ndarray) -> None:
        """Hand over a chunk of 16 kHz mono audio starting at stream time `time_s`. Windows
        waiting for the analysis beyond MAX_WAITING_WINDOWS are dropped (the oldest first)."""
        if self.analyzer.voice is None:
            self.report_error("voice_off", "audio was sent, but the voice branch is off")
            return
        with self._lock:
            if self._stopping:
                return
            self._audio_slot.extend(self._voice.add(time_s, samples))
            del self._audio_slot[:-MAX_WAITING_WINDOWS]
            if self._audio_slot:
                self._wake.notify()

    def report_error(self, code: str, message: str) -> None:
        """A problem with the input that did not stop the stream (a message that is no frame)."""
        self._emit(ErrorEvent, code=code, message=message)

    def people(self) -> list[dict[str, Any]]:
        with self._lock:
            monitors = list(self._monitors.values())
        return [
            {"track_id": m.track_id, "state": m.state.value, "score": round(m.score, 4)}
            for m in monitors
        ]

    def close(self, reason: str = "closed") -> None:
        """Stop after the analysis in progress; the last event says why."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._slot = None
            self._wake.notify()
        self._thread.join(timeout=60)
        self._emit(EndedEvent, reason=reason)
        self.events.close()

    # The analysis thread -------------------------------------------------------------------

    def _run(self) -> None:
        self._emit(StartedEvent, source=self.source, sampling_fps=self.sampling_fps)
        while True:
            with self._lock:
                self._wake.wait_for(
                    lambda: self._slot is not None or bool(self._audio_slot) or self._stopping,
                    timeout=self.settings.heartbeat_s,
                )
                if self._stopping:
                    return
                taken, self._slot = self._slot, None
                heard, self._audio_slot = self._audio_slot, []
            for window in heard:
                self._listen(window)
            if taken is None and heard:
                continue
            if taken is None:
                self._emit(HeartbeatEvent, sampling_fps=self.sampling_fps)
                continue
            self._analyse(*taken)
            if time.monotonic() - self._last_event > self.settings.heartbeat_s:
                self._emit(HeartbeatEvent, sampling_fps=self.sampling_fps)

    def _analyse(self, time_s: float, source: PictureSource) -> None:
        try:
            picture = source()
            faces = self.analyzer.analyze_frame(picture, time_s, self._search, self._tracker)
            picture.release()
        except DeepfakeStreamError as exc:  # a bad frame is reported; the stream goes on
            self._emit(ErrorEvent, time_s=time_s, code=exc.code, message=exc.message)
            return
        except Exception as exc:  # a bug: logged and reported as one, and the stream goes on
            log.exception("stream %s: analysing the frame at %.3f s failed", self.stream_id, time_s)
            message = f"{type(exc).__name__}: {exc}"
            self._emit(ErrorEvent, time_s=time_s, code="internal_error", message=message)
            return
        with self._lock:
            self.counters.frames_analysed += 1
        STREAM_FRAMES.labels("analysed").inc()
        people = []
        for face in faces:
            monitor = self._monitors.get(face.track_id)
            if monitor is None:
                monitor = self._monitors[face.track_id] = PersonMonitor(
                    face.track_id, self.analyzer.model.policy, self._states, self._alerts
                )
            change, alerts = monitor.observe(
                time_s,
                face.probability,
                face.branches,
                face.novelty,
            )
            people.append(
                PersonScore(
                    track_id=face.track_id,
                    probability=round(face.probability, 4),
                    score=round(monitor.score, 4),
                    state=monitor.state,
                    box=(
                        round(face.box[0], 1),
                        round(face.box[1], 1),
                        round(face.box[2], 1),
                        round(face.box[3], 1),
                    ),
                    branches={k.value: round(v, 4) for k, v in face.branches.items()},
                )
            )
            if change is not None:
                self._emit(StateEvent, reason="score", **asdict(change))
            for alert in alerts:
                STREAM_ALERTS.labels(alert.rule.value).inc()
                self._emit(AlertEvent, **asdict(alert))
        self._forget_lost(time_s)
        with self._lock:  # a person turning uncertain brings the next sample forward
            self._next_due = min(self._next_due, time_s + 1.0 / self.sampling_fps)
        self._emit(ScoresEvent, time_s=time_s, people=people, sampling_fps=self.sampling_fps)

    def _listen(self, window: DueWindow) -> None:
        scorer = self.analyzer.voice
        assert scorer is not None  # offer_audio takes no audio without it
        scored = score_window(scorer, window)
        if scored is None:  # under half speech: nothing to judge
            return
        if self._voice_monitor is None:
            self._voice_monitor = voice_monitor(scorer, self._states, self._alerts)
        monitor = self._voice_monitor
        change, alerts = monitor.observe(scored.start_s, scored.probability)
        self._emit(
            VoiceEvent,
            time_s=scored.start_s,
            end_s=scored.end_s,
            speech_s=scored.speech_s,
            probability=scored.probability,
            score=round(monitor.score, 4),
            state=monitor.state,
        )
        if change is not None:
            self._emit(StateEvent, reason="score", channel="voice", **asdict(change))
        for alert in alerts:
            STREAM_ALERTS.labels(alert.rule.value).inc()
            self._emit(AlertEvent, channel="voice", **asdict(alert))

    def _forget_lost(self, time_s: float) -> None:
        """People unseen for lost_after_s have left: their state ends (as uncertain: nothing is
        known of them now), and with it any alert and the fast sampling it asked for."""
        lost = [
            m
            for m in self._monitors.values()
            if time_s - m.last_seen_s > self.settings.lost_after_s
        ]
        for monitor in lost:
            with self._lock:
                del self._monitors[monitor.track_id]
            if monitor.state is not PersonState.UNCERTAIN:
                self._emit(
                    StateEvent,
                    time_s=time_s,
                    track_id=monitor.track_id,
                    previous=monitor.state,
                    state=PersonState.UNCERTAIN,
                    score=round(monitor.score, 4),
                    reason="lost",
                )

    def _emit(self, kind: type[AnyEvent], **fields: Any) -> None:
        self._last_event = time.monotonic()
        with self._lock:
            counters = asdict(self.counters)
        event = kind(stream=self.stream_id, at=round(time.time(), 3), **counters, **fields)
        full: Event = event.model_dump(mode="json")
        self.events.put(full)
        if self.publish is not None and event.type in PUBLISHED_EVENTS:
            try:
                self.publish(full)
            except Exception:  # a broken subscriber must not stop the stream
                log.exception("stream %s: publishing an event failed", self.stream_id)
