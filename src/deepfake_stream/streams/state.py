"""Each person's live state (CLEAR, SUSPICIOUS, ALERT) with hysteresis, and the alert rules
(threshold, spike, sustained) with a cool-down, from the scores of the frames analysed.

Entering ALERT needs the mean of the last `window_samples` scores at or above `alert_at`, and
leaving it needs that mean below `alert_release_below`: one odd frame neither raises nor clears
an alert, and the state does not flap around a single threshold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum


class PersonState(StrEnum):
    CLEAR = "clear"
    SUSPICIOUS = "suspicious"
    ALERT = "alert"


class AlertRule(StrEnum):
    THRESHOLD = "threshold"  # the windowed score reached the threshold
    SPIKE = "spike"  # the score rose this much within a second
    SUSTAINED = "sustained"  # the windowed score stayed at or above the threshold this long


@dataclass(frozen=True)
class StateOptions:
    suspicious_at: float = 0.5  # a score at or above this: SUSPICIOUS (sampling speeds up)
    clear_below: float = 0.35  # SUSPICIOUS back to CLEAR when the window falls below this
    alert_at: float = 0.7  # the window's mean at or above this: ALERT
    alert_release_below: float = 0.55  # ALERT back to SUSPICIOUS below this
    window_samples: int = 2  # scores averaged for the state (at 1 fps: the last 2 s)


@dataclass(frozen=True)
class AlertOptions:
    threshold: float = 0.7
    spike_rise: float = 0.3
    spike_within_s: float = 1.0
    sustained_s: float = 5.0
    cooldown_s: float = 30.0  # the same rule for the same person fires at most this often


@dataclass(frozen=True)
class StateChange:
    track_id: int
    time_s: float
    previous: PersonState
    state: PersonState
    score: float  # the windowed score that moved it


@dataclass(frozen=True)
class Alert:
    rule: AlertRule
    track_id: int
    time_s: float
    score: float
    message: str


class PersonMonitor:
    """One person's state and alerts, fed the scores of their analysed frames in time order."""

    def __init__(self, track_id: int, states: StateOptions, alerts: AlertOptions) -> None:
        self.track_id = track_id
        self.states = states
        self.alerts = alerts
        self.state = PersonState.CLEAR
        self.last_seen_s = float("-inf")
        self._window: deque[float] = deque(maxlen=states.window_samples)
        self._recent: deque[tuple[float, float]] = deque()  # (time, score) within spike reach
        self._above_since: float | None = None
        self._last_fired: dict[AlertRule, float] = {}

    @property
    def score(self) -> float:
        return sum(self._window) / len(self._window) if self._window else 0.0

    def observe(self, time_s: float, score: float) -> tuple[StateChange | None, list[Alert]]:
        self.last_seen_s = time_s
        self._window.append(score)
        windowed = self.score
        change = self._move(time_s, windowed, score)
        return change, self._alerts(time_s, windowed, score)

    def _move(self, time_s: float, windowed: float, score: float) -> StateChange | None:
        options = self.states
        previous = self.state
        full = len(self._window) == options.window_samples
        if full and windowed >= options.alert_at:
            self.state = PersonState.ALERT
        elif previous is PersonState.ALERT:
            if windowed < options.alert_release_below:
                self.state = (
                    PersonState.CLEAR if windowed < options.clear_below else PersonState.SUSPICIOUS
                )
        elif score >= options.suspicious_at or (
            previous is PersonState.SUSPICIOUS and windowed >= options.clear_below
        ):
            self.state = PersonState.SUSPICIOUS
        else:
            self.state = PersonState.CLEAR
        if self.state is previous:
            return None
        return StateChange(self.track_id, time_s, previous, self.state, round(windowed, 4))

    def _alerts(self, time_s: float, windowed: float, score: float) -> list[Alert]:
        options = self.alerts
        fired: list[Alert] = []

        def fire(rule: AlertRule, value: float, message: str) -> None:
            last = self._last_fired.get(rule)
            if last is None or time_s - last >= options.cooldown_s:
                self._last_fired[rule] = time_s
                fired.append(Alert(rule, self.track_id, time_s, round(value, 4), message))

        full = len(self._window) == self.states.window_samples
        if full and windowed >= options.threshold:
            if self._above_since is None:
                self._above_since = time_s
                fire(
                    AlertRule.THRESHOLD,
                    windowed,
                    f"person {self.track_id}: score {windowed:.2f} >= {options.threshold}",
                )
            elif time_s - self._above_since >= options.sustained_s:
                fire(
                    AlertRule.SUSTAINED,
                    windowed,
                    f"person {self.track_id}: score >= {options.threshold} for "
                    f"{time_s - self._above_since:.1f} s",
                )
        else:
            self._above_since = None

        while self._recent and time_s - self._recent[0][0] > options.spike_within_s:
            self._recent.popleft()
        lowest = min((value for _, value in self._recent), default=None)
        if lowest is not None and score - lowest >= options.spike_rise:
            fire(
                AlertRule.SPIKE,
                score,
                f"person {self.track_id}: score rose {score - lowest:.2f} within "
                f"{options.spike_within_s:.1f} s",
            )
        self._recent.append((time_s, score))
        return fired
