from __future__ import annotations

import numpy as np
import pytest

from deepfake_stream.detection.fusion import (
    Branch,
    NoveltyModel,
    disagreement_warning,
    fuse_logits,
    novelty_warning,
    parse_branches,
)

WEIGHTS = {Branch.FACE: 0.75, Branch.FREQUENCY: 0.25}


def test_fused_logit_is_the_weighted_mean_over_the_temperature() -> None:
    logits = {Branch.FACE: np.array([2.0, -1.0]), Branch.FREQUENCY: np.array([-2.0, 3.0])}
    fused = fuse_logits(logits, WEIGHTS, temperature=2.0)
    assert np.allclose(fused, [(0.75 * 2 - 0.25 * 2) / 2, (-0.75 + 0.75) / 2])


def test_a_subset_renormalises_its_weights() -> None:
    only_frequency = fuse_logits({Branch.FREQUENCY: np.array([1.5])}, WEIGHTS, 1.0)
    assert np.allclose(only_frequency, [1.5])
    with pytest.raises(ValueError, match="nothing to fuse"):
        fuse_logits({}, WEIGHTS, 1.0)


def test_strong_disagreement_is_reported() -> None:
    warning = disagreement_warning({Branch.FACE: 0.03, Branch.FREQUENCY: 0.93}, 0.85)
    assert warning is not None and "face 0.03" in warning and "frequency 0.93" in warning
    assert disagreement_warning({Branch.FACE: 0.2, Branch.FREQUENCY: 0.93}, 0.85) is None
    assert disagreement_warning({Branch.FACE: 0.03, Branch.FREQUENCY: None}, 0.85) is None


def test_branch_names_are_checked() -> None:
    assert parse_branches(["frequency", "face"]) == (Branch.FREQUENCY, Branch.FACE)
    with pytest.raises(ValueError, match="unknown branch"):
        parse_branches(["face", "audio"])


def test_novel_faces_are_reported_only_above_the_threshold() -> None:
    assert novelty_warning(None) is None
    assert novelty_warning(0.8) is None
    warning = novelty_warning(1.7)
    assert warning is not None and "1.70" in warning and "uncertain" in warning


def test_novelty_is_the_mahalanobis_distance() -> None:
    model = NoveltyModel(np.zeros(2), np.diag([1.0, 0.25]))
    assert np.allclose(model.distances(np.array([[3.0, 0.0], [0.0, 4.0]])), [3.0, 2.0])
    with pytest.raises(ValueError, match="square"):
        NoveltyModel(np.zeros(2), np.eye(3))
