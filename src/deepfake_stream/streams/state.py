"""Each person's live state, judged as a file judges a person: the mean of their last
`window_samples` scores against the model's calibrated thresholds (verdict.VerdictPolicy), with
its abstentions and untrained guard. So a face is `real`, `uncertain` or `fake` on a call
exactly when it would be as an upload, and a new model needs no stream levels of its own.

Two rules keep one odd frame from moving the state:
- `fake` needs the full window at or above the fake threshold (an alert is "fake" held for the
  window);
- leaving `real` or `fake` needs the windowed score past its threshold by `hysteresis_logit`
  (in logit units, so that the margin means as much at 0.02 as at 0.9).

The alert rules (a person turning fake, a rise into fake within a second, fake held for
`sustained_s`) each fire at most once per cool-down.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..detection.aggregate import Verdict, verdict_for
from ..detection.fusion import Branch
from ..verdict import VerdictPolicy


class PersonState(StrEnum):
    REAL = "real"
    UNCERTAIN = "uncertain"  # where every person starts
    FAKE = "fake"


class AlertRule(StrEnum):
    THRESHOLD = "threshold"  # the person turned fake: the windowed score held the threshold
    SPIKE = "spike"  # a frame rose into fake by spike_rise within spike_within_s
    SUSTAINED = "sustained"  # the person stayed fake this long


@dataclass(frozen=True)
class StateOptions:
    window_samples: int = 2  # scores averaged for the state (at 1 fps: the last 2 s)
    hysteresis_logit: float = 0.5  # how far past a threshold the window must go to leave a state


@dataclass(frozen=True)
class AlertOptions:
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
    warnings: tuple[str, ...]  # why the verdict is what it is (as a file's warnings)


@dataclass(frozen=True)
class Alert:
    rule: AlertRule
    track_id: int
    time_s: float
    score: float
    message: str


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


class PersonMonitor:
    """One person's state and alerts, fed the scores of their analysed frames in time order."""

    def __init__(
        self,
        track_id: int,
        policy: VerdictPolicy,
        states: StateOptions,
        alerts: AlertOptions,
        name: str | None = None,
    ) -> None:
        self.track_id = track_id
        self.name = name or f"person {track_id}"  # in alert messages
        self.policy = policy
        self.states = states
        self.alerts = alerts
        self.state = PersonState.UNCERTAIN
        self.warnings: tuple[str, ...] = ()
        self.last_seen_s = float("-inf")
        self._window: deque[float] = deque(maxlen=states.window_samples)
        self._branches: deque[Mapping[Branch, float]] = deque(maxlen=states.window_samples)
        self._novelty: deque[float] = deque(maxlen=states.window_samples)
        self._recent: deque[tuple[float, float]] = deque()  # (time, score) within spike reach
        self._fake_since: float | None = None
        self._settled = False  # the state was judged on a full window
        self._last_fired: dict[AlertRule, float] = {}

    @property
    def score(self) -> float:
        return sum(self._window) / len(self._window) if self._window else 0.0

    def observe(
        self,
        time_s: float,
        score: float,
        branches: Mapping[Branch, float] | None = None,
        novelty: float | None = None,
    ) -> tuple[StateChange | None, list[Alert]]:
        """One analysed frame of this person: its fused score, each branch's, and its
        novelty (with a fusion)."""
        self.last_seen_s = time_s
        self._window.append(score)
        self._branches.append(branches or {})
        if novelty is not None:
            self._novelty.append(novelty)
        previous = self.state
        self.state, self.warnings = self._judge()
        self._settled = len(self._window) == self.states.window_samples
        change = None
        if self.state is not previous:
            change = StateChange(
                self.track_id, time_s, previous, self.state, round(self.score, 4), self.warnings
            )
        return change, self._alerts(time_s, score)

    def _judge(self) -> tuple[PersonState, tuple[str, ...]]:
        windowed = self.score
        branch_means = {
            branch: float(np.mean([frame[branch] for frame in self._branches]))
            for branch in self._branches[-1]
        }
        novelty = float(np.median(self._novelty)) if self._novelty else None
        verdict, warnings = self.policy.judge(windowed, branch_means, novelty, photo=False)
        real_below, fake_at = self.policy.thresholds(photo=False)
        margin = self.states.hysteresis_logit
        full = len(self._window) == self.states.window_samples
        # A state judged on fewer scores than the window is provisional: it does not hold
        # against the first full window (which then judges as a file of those frames would).
        held = (
            self._settled
            and verdict is Verdict.UNCERTAIN
            and verdict_for(windowed, real_below, fake_at) is Verdict.UNCERTAIN  # no abstention
            and not self.policy.untrained
        )
        if held and self.state is PersonState.FAKE and _logit(windowed) >= _logit(fake_at) - margin:
            return PersonState.FAKE, tuple(warnings)
        if (
            held
            and self.state is PersonState.REAL
            and _logit(windowed) < _logit(real_below) + margin
        ):
            return PersonState.REAL, tuple(warnings)
        if verdict is Verdict.FAKE and not full and self.state is not PersonState.FAKE:
            return PersonState.UNCERTAIN, tuple(warnings)
        return PersonState(verdict.value), tuple(warnings)

    def _alerts(self, time_s: float, score: float) -> list[Alert]:
        options = self.alerts
        fired: list[Alert] = []

        def fire(rule: AlertRule, value: float, message: str) -> None:
            last = self._last_fired.get(rule)
            if last is None or time_s - last >= options.cooldown_s:
                self._last_fired[rule] = time_s
                fired.append(Alert(rule, self.track_id, time_s, round(value, 4), message))

        windowed = self.score
        if self.state is PersonState.FAKE:
            if self._fake_since is None:
                self._fake_since = time_s
                fire(
                    AlertRule.THRESHOLD,
                    windowed,
                    f"{self.name}: fake (score {windowed:.2f} held for {len(self._window)} frames)",
                )
            elif time_s - self._fake_since >= options.sustained_s:
                fire(
                    AlertRule.SUSTAINED,
                    windowed,
                    f"{self.name}: fake for {time_s - self._fake_since:.1f} s",
                )
        else:
            self._fake_since = None

        while self._recent and time_s - self._recent[0][0] > options.spike_within_s:
            self._recent.popleft()
        lowest = min((value for _, value in self._recent), default=None)
        _, fake_at = self.policy.thresholds(photo=False)
        if (
            not self.policy.untrained
            and lowest is not None
            and score >= fake_at
            and score - lowest >= options.spike_rise
        ):
            fire(
                AlertRule.SPIKE,
                score,
                f"{self.name}: score rose {score - lowest:.2f} to {score:.2f} "
                f"within {options.spike_within_s:.1f} s",
            )
        self._recent.append((time_s, score))
        return fired
