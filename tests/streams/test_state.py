"""Per-person states judged with the model's verdict policy, with hysteresis, and the alert
rules with their cool-down."""

from __future__ import annotations

from pathlib import Path

from deepfake_stream.config import VerdictSettings
from deepfake_stream.detection.fusion import Branch, read_fusion_manifest
from deepfake_stream.detection.weights import read_manifest
from deepfake_stream.streams.state import (
    Alert,
    AlertOptions,
    AlertRule,
    PersonMonitor,
    PersonState,
    StateChange,
    StateOptions,
)
from deepfake_stream.verdict import UNTRAINED_WARNING, VerdictPolicy, policy_for

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
FACE = read_manifest(WEIGHTS / "srm-lite0-dfdc.json")
# Round thresholds, so that the windows below are easy to follow: real < 0.2 <= uncertain < 0.7.
POLICY = policy_for(VerdictSettings(real_below=0.2, fake_at_or_above=0.7), FACE)


def monitor(policy: VerdictPolicy = POLICY, **alerts: float) -> PersonMonitor:
    return PersonMonitor(1, policy, StateOptions(), AlertOptions(**alerts))


def feed(person: PersonMonitor, samples: list[tuple[float, float]]) -> list[StateChange | Alert]:
    events: list[StateChange | Alert] = []
    for time_s, score in samples:
        change, alerts = person.observe(time_s, score)
        if change is not None:
            events.append(change)
        events.extend(alerts)
    return events


def states(events: list[StateChange | Alert]) -> list[tuple[float, PersonState]]:
    return [(e.time_s, e.state) for e in events if isinstance(e, StateChange)]


def rules(events: list[StateChange | Alert]) -> list[tuple[float, AlertRule]]:
    return [(e.time_s, e.rule) for e in events if isinstance(e, Alert)]


def test_a_fake_stretch_alerts_once_and_the_person_is_real_again_after() -> None:
    person = monitor(cooldown_s=30)
    real = [(t, 0.1) for t in (0.0, 5.0, 10.0)]
    fake = [(t, 0.95) for t in (15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0)]
    after = [(t, 0.1) for t in (23.0, 24.0, 25.0, 30.0)]
    events = feed(person, real + fake + after)
    assert states(events) == [
        (0.0, PersonState.REAL),  # everyone starts uncertain
        (15.0, PersonState.UNCERTAIN),  # one high score: the window's mean is uncertain
        (16.0, PersonState.FAKE),  # fake held for the window: 1 s after the first fake sample
        (23.0, PersonState.UNCERTAIN),  # the window fell well below the fake threshold
        (24.0, PersonState.REAL),
    ]
    # No spike: the last score before the rise is 5 s old (a spike is a rise within 1 s).
    assert rules(events) == [(16.0, AlertRule.THRESHOLD), (21.0, AlertRule.SUSTAINED)]
    assert person.state is PersonState.REAL


def test_one_odd_frame_never_makes_a_person_fake_but_is_reported_as_a_spike() -> None:
    person = monitor()
    events = feed(person, [(0.0, 0.1), (1.0, 0.9), (2.0, 0.1), (3.0, 0.1)])
    assert states(events) == [
        (0.0, PersonState.REAL),
        (1.0, PersonState.UNCERTAIN),
        (3.0, PersonState.REAL),
    ]
    assert rules(events) == [(1.0, AlertRule.SPIKE)]


def test_a_spike_must_rise_into_fake_within_a_second_and_cools_down() -> None:
    person = monitor(cooldown_s=10)
    samples = [(0.0, 0.2), (0.5, 0.6), (1.0, 0.2), (1.4, 0.75), (12.0, 0.1), (12.5, 0.8)]
    spikes = [t for t, rule in rules(feed(person, samples)) if rule is AlertRule.SPIKE]
    # 0.6 is no fake score; 1.4 s rose into fake; 12.5 s too, after the cool-down.
    assert spikes == [1.4, 12.5]


def test_hysteresis_holds_fake_and_real_near_their_thresholds() -> None:
    person = monitor()
    feed(person, [(0.0, 0.9), (1.0, 0.9)])
    assert person.state is PersonState.FAKE
    feed(person, [(2.0, 0.66), (3.0, 0.66)])  # under 0.7, but within 0.5 logit of it
    assert person.state is PersonState.FAKE
    feed(person, [(4.0, 0.55), (5.0, 0.55)])
    assert person.state is PersonState.UNCERTAIN
    feed(person, [(6.0, 0.1), (7.0, 0.1)])
    assert person.state is PersonState.REAL
    feed(person, [(8.0, 0.22), (9.0, 0.22)])  # over 0.2, but within 0.5 logit of it
    assert person.state is PersonState.REAL
    feed(person, [(10.0, 0.35), (11.0, 0.35)])
    assert person.state is PersonState.UNCERTAIN


def test_the_shipped_calibration_applies_to_streams_with_its_reason() -> None:
    policy = policy_for(VerdictSettings(), FACE)
    assert policy.validation_real_below is not None
    between = (policy.real_below + policy.validation_real_below) / 2
    person = monitor(policy)
    assert feed(person, [(0.0, between), (1.0, between)]) == []  # it starts uncertain
    # Not real on a call where the same face is not real as an upload, and it says why.
    assert person.state is PersonState.UNCERTAIN
    assert any("methods it was not trained on" in w for w in person.warnings)
    feed(person, [(2.0, policy.real_below / 10), (3.0, policy.real_below / 10)])
    assert person.state is PersonState.REAL and person.warnings == ()


def test_an_untrained_model_leaves_everyone_uncertain_and_never_alerts() -> None:
    person = monitor(policy_for(VerdictSettings(), None))
    events = feed(person, [(0.0, 0.01), (1.0, 0.01), (1.5, 0.99), (2.0, 0.99), (3.0, 0.99)])
    assert events == [] and person.state is PersonState.UNCERTAIN
    assert person.warnings == (UNTRAINED_WARNING,)


def test_with_a_fusion_branches_that_disagree_keep_a_fake_score_uncertain() -> None:
    fusion = read_fusion_manifest(WEIGHTS / "fusion-dfdc-face.json")
    policy = policy_for(VerdictSettings(), fusion)
    person = PersonMonitor(2, policy, StateOptions(), AlertOptions())
    for time_s in (0.0, 1.0, 2.0):
        person.observe(time_s, 0.99, {Branch.FACE: 0.99, Branch.FREQUENCY: 0.01}, 0.5)
    assert person.state is PersonState.UNCERTAIN
    assert any("branches disagree" in w for w in person.warnings)
    for time_s in (3.0, 4.0):
        person.observe(time_s, 0.99, {Branch.FACE: 0.99, Branch.FREQUENCY: 0.95}, 0.5)
    assert person.state is PersonState.FAKE and person.warnings == ()
