"""From per-face probabilities to per-person, per-segment and whole-video probabilities.

For each segment, each person's faces are averaged; the segment takes its most suspicious
person (one fake person makes the segment fake). The video probability is the average of
the segment probabilities, plain or weighted by confidence.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

# Confidence weighting: weight = |2p - 1| + this floor, so that a segment at exactly 0.5
# still counts a little.
CONFIDENCE_WEIGHT_FLOOR = 0.05


class Verdict(StrEnum):
    REAL = "real"
    FAKE = "fake"
    UNCERTAIN = "uncertain"
    NO_FACE = "no_face"
    NO_SPEECH = "no_speech"  # an audio file with under 2 s of speech


@dataclass(frozen=True)
class ScoredFace:
    frame_index: int  # index of the sampled frame
    segment: int  # segment of that frame
    track_id: int  # person
    probability: float  # calibrated fake probability of this crop


@dataclass(frozen=True)
class Aggregate:
    segment_probabilities: list[float | None]  # None where no voting face was seen
    person_probabilities: dict[int, float]  # track id -> mean of its segment probabilities
    voting_tracks: frozenset[int]  # tracks that count toward the verdict
    probability: float | None  # the media's fake probability; None when no face


def verdict_for(probability: float | None, real_below: float, fake_at_or_above: float) -> Verdict:
    if probability is None:
        return Verdict.NO_FACE
    if probability >= fake_at_or_above:
        return Verdict.FAKE
    if probability < real_below:
        return Verdict.REAL
    return Verdict.UNCERTAIN


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def combine_segments(probabilities: list[float], strategy: str) -> float:
    if strategy == "confidence_weighted":
        weights = [abs(2 * p - 1) + CONFIDENCE_WEIGHT_FLOOR for p in probabilities]
        return sum(w * p for w, p in zip(weights, probabilities, strict=True)) / sum(weights)
    if strategy == "mean":
        return _mean(probabilities)
    raise ValueError(f"unknown aggregation strategy {strategy!r}")


def aggregate(
    faces: list[ScoredFace],
    frames_sampled: int,
    segments: int,
    strategy: str,
    min_track_share: float,
) -> Aggregate:
    frames_per_track: dict[int, set[int]] = defaultdict(set)
    for face in faces:
        frames_per_track[face.track_id].add(face.frame_index)
    voting = {
        track
        for track, frames in frames_per_track.items()
        if len(frames) >= min_track_share * frames_sampled
    } or set(frames_per_track)  # only brief tracks: let them all vote rather than say no_face

    by_segment_and_track: dict[tuple[int, int], list[float]] = defaultdict(list)
    for face in faces:
        by_segment_and_track[(face.segment, face.track_id)].append(face.probability)

    segment_probabilities: list[float | None] = []
    per_track_segments: dict[int, list[float]] = defaultdict(list)
    for segment in range(segments):
        people = {
            track: _mean(values)
            for (seg, track), values in by_segment_and_track.items()
            if seg == segment
        }
        for track, value in people.items():
            per_track_segments[track].append(value)
        votes = [value for track, value in people.items() if track in voting]
        segment_probabilities.append(max(votes) if votes else None)

    present = [p for p in segment_probabilities if p is not None]
    return Aggregate(
        segment_probabilities=segment_probabilities,
        person_probabilities={t: _mean(v) for t, v in sorted(per_track_segments.items())},
        voting_tracks=frozenset(voting),
        probability=combine_segments(present, strategy) if present else None,
    )
