from __future__ import annotations

import pytest

from deepfake_stream.detection.aggregate import (
    ScoredFace,
    Verdict,
    aggregate,
    combine_segments,
    verdict_for,
)


def _faces(track: int, probability: float, frames: range, per_segment: int = 2) -> list[ScoredFace]:
    return [ScoredFace(f, f // per_segment, track, probability) for f in frames]


def test_thresholds_make_four_labels() -> None:
    assert verdict_for(None, 0.3, 0.7) is Verdict.NO_FACE
    assert verdict_for(0.1, 0.3, 0.7) is Verdict.REAL
    assert verdict_for(0.3, 0.3, 0.7) is Verdict.UNCERTAIN  # real only strictly below
    assert verdict_for(0.69, 0.3, 0.7) is Verdict.UNCERTAIN
    assert verdict_for(0.7, 0.3, 0.7) is Verdict.FAKE


def test_one_fake_person_makes_the_video_fake() -> None:
    faces = _faces(0, 0.1, range(8)) + _faces(1, 0.9, range(8))
    result = aggregate(faces, frames_sampled=8, segments=4, strategy="mean", min_track_share=0.2)
    assert result.segment_probabilities == [0.9, 0.9, 0.9, 0.9]
    assert result.person_probabilities == {0: pytest.approx(0.1), 1: pytest.approx(0.9)}
    assert result.probability == pytest.approx(0.9)


def test_video_probability_is_the_mean_of_segments_and_empty_segments_are_skipped() -> None:
    faces = [ScoredFace(0, 0, 0, 0.2), ScoredFace(1, 0, 0, 0.4), ScoredFace(4, 2, 0, 0.9)]
    result = aggregate(faces, frames_sampled=6, segments=3, strategy="mean", min_track_share=0.0)
    assert result.segment_probabilities == [pytest.approx(0.3), None, pytest.approx(0.9)]
    assert result.probability == pytest.approx(0.6)


def test_confidence_weighting_favours_confident_segments() -> None:
    plain = combine_segments([0.5, 0.95], "mean")
    weighted = combine_segments([0.5, 0.95], "confidence_weighted")
    assert plain == pytest.approx(0.725)
    assert weighted > 0.9
    with pytest.raises(ValueError):
        combine_segments([0.5], "median")


def test_a_brief_spurious_track_does_not_vote() -> None:
    faces = _faces(0, 0.1, range(16)) + [ScoredFace(3, 1, 1, 0.99)]  # one frame of a false alarm
    result = aggregate(faces, frames_sampled=16, segments=8, strategy="mean", min_track_share=0.2)
    assert result.voting_tracks == {0}
    assert result.probability == pytest.approx(0.1)
    assert result.person_probabilities[1] == pytest.approx(0.99)  # still reported


def test_only_brief_tracks_still_vote_rather_than_hide_a_face() -> None:
    result = aggregate(
        [ScoredFace(0, 0, 0, 0.8)],
        frames_sampled=32,
        segments=8,
        strategy="mean",
        min_track_share=0.2,
    )
    assert result.probability == pytest.approx(0.8)


def test_no_faces_means_no_probability() -> None:
    result = aggregate([], frames_sampled=32, segments=8, strategy="mean", min_track_share=0.2)
    assert result.probability is None
    assert result.segment_probabilities == [None] * 8
