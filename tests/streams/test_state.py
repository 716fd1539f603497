"""Per-person states with hysteresis, and the alert rules with their cool-down."""

from __future__ import annotations

from deepfake_stream.streams.state import (
    AlertOptions,
    AlertRule,
    PersonMonitor,
    PersonState,
    StateOptions,
)


def feed(monitor: PersonMonitor, samples: list[tuple[float, float]]) -> list[object]:
    events: list[object] = []
    for time_s, score in samples:
        change, alerts = monitor.observe(time_s, score)
        if change is not None:
            events.append(change)
        events.extend(alerts)
    return events


def test_a_fake_stretch_alerts_once_and_clears_after() -> None:
    monitor = PersonMonitor(1, StateOptions(), AlertOptions(cooldown_s=30))
    real = [(t, 0.1) for t in (0.0, 5.0, 10.0)]
    fake = [(t, 0.95) for t in (15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0)]
    after = [(t, 0.1) for t in (23.0, 24.0, 25.0, 30.0)]
    events = feed(monitor, real + fake + after)
    states = [(e.time_s, e.state) for e in events if hasattr(e, "state")]  # type: ignore[attr-defined]
    assert states == [
        (15.0, PersonState.SUSPICIOUS),  # one high score: look closer
        (16.0, PersonState.ALERT),  # two in a row: alert, 1 s after the first fake sample
        (23.0, PersonState.SUSPICIOUS),  # the window fell below the release level
        (24.0, PersonState.CLEAR),  # and then below the clear level
    ]
    rules = [(e.time_s, e.rule) for e in events if hasattr(e, "rule")]  # type: ignore[attr-defined]
    # No spike: the last score before the rise is 5 s old (a spike is a rise within 1 s).
    assert rules == [(16.0, AlertRule.THRESHOLD), (21.0, AlertRule.SUSTAINED)]
    assert monitor.state is PersonState.CLEAR


def test_one_odd_frame_neither_alerts_nor_flaps() -> None:
    monitor = PersonMonitor(1, StateOptions(), AlertOptions())
    events = feed(monitor, [(0.0, 0.1), (1.0, 0.9), (2.0, 0.1), (3.0, 0.1)])
    assert [e.state for e in events if hasattr(e, "state")] == [  # type: ignore[attr-defined]
        PersonState.SUSPICIOUS,
        PersonState.CLEAR,
    ]
    assert not any(hasattr(e, "rule") and e.rule is AlertRule.THRESHOLD for e in events)  # type: ignore[attr-defined]


def test_a_spike_within_a_second_fires_and_cools_down() -> None:
    monitor = PersonMonitor(3, StateOptions(), AlertOptions(cooldown_s=10))
    events = feed(
        monitor, [(0.0, 0.2), (0.5, 0.6), (1.0, 0.2), (1.4, 0.6), (12.0, 0.1), (12.5, 0.5)]
    )
    spikes = [e.time_s for e in events if getattr(e, "rule", None) is AlertRule.SPIKE]  # type: ignore[attr-defined]
    assert spikes == [0.5, 12.5]  # the one at 1.4 s falls in the cool-down


def test_hysteresis_holds_alert_between_release_and_alert_levels() -> None:
    monitor = PersonMonitor(1, StateOptions(), AlertOptions())
    feed(monitor, [(0.0, 0.9), (1.0, 0.9)])
    assert monitor.state is PersonState.ALERT
    feed(monitor, [(2.0, 0.6), (3.0, 0.6)])  # below alert_at, above the release level
    assert monitor.state is PersonState.ALERT
    feed(monitor, [(4.0, 0.45), (5.0, 0.45)])
    assert monitor.state is PersonState.SUSPICIOUS
