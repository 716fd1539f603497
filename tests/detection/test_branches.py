from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import Settings, load_settings
from deepfake_stream.detection.branches import (
    BranchScorer,
    CropScores,
    concat_scores,
    load_face_detector,
    take_scores,
)
from deepfake_stream.detection.fusion import Branch, fuse_logits
from deepfake_stream.pipeline import Analyzer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crops(analyzer: Analyzer, fixtures: Path) -> np.ndarray:
    """The faces of a real group photo, cut as the service cuts them."""
    from deepfake_stream.media import load_media

    media = load_media(fixtures / "group.jpg", analyzer.settings.limits, analyzer.settings.sampling)
    (faces,) = analyzer.faces.detect(
        [media.frames[0].picture], analyzer.settings.faces.detect_short_side_image
    )
    assert len(faces) >= 3
    return np.stack([face.crop for face in faces])


@pytest.fixture(scope="module")
def ensemble_scorer(settings: Settings) -> Iterator[BranchScorer]:
    ensemble = load_settings(REPO / "configs" / "ensemble.yaml")
    model = settings.model.model_copy(update={"engine": "torch"})
    detector, manifest, sha = load_face_detector(ensemble.model)
    scorer = BranchScorer(detector, manifest, sha, model, ensemble.fusion)
    yield scorer
    scorer.close()


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(p / (1 - p)))


def test_the_fused_probability_is_the_fusion_of_each_branchs_calibrated_logit(
    ensemble_scorer: BranchScorer, crops: np.ndarray
) -> None:
    scores = ensemble_scorer.score(crops)
    assert ensemble_scorer.branches == [Branch.FACE, Branch.FREQUENCY]
    assert set(scores.per_branch) == {Branch.FACE, Branch.FREQUENCY}
    fusion = ensemble_scorer.fusion
    assert fusion is not None
    expected = fuse_logits(
        {branch: _logit(p) for branch, p in scores.per_branch.items()},
        fusion.weights,
        fusion.temperature,
    )
    np.testing.assert_allclose(_logit(scores.fused), expected, atol=1e-4)
    # Each face has its distance from the training faces, over the novelty threshold.
    assert scores.novelty is not None and scores.novelty.shape == (len(crops),)
    assert (scores.novelty > 0).all()
    assert [m.name for m in ensemble_scorer.branch_manifests.values()] == ["dct-cnn-multi"]


def test_the_face_branch_alone_is_its_own_fused_probability(
    analyzer: Analyzer, crops: np.ndarray
) -> None:
    scorer = analyzer.scorer
    assert scorer.fusion is None and scorer.branches == [Branch.FACE]
    scores = scorer.score(crops)
    np.testing.assert_array_equal(scores.fused, scores.per_branch[Branch.FACE])
    assert scores.novelty is None
    assert ((scores.fused > 0) & (scores.fused < 1)).all()
    # The same crop scores the same alone as in a batch.
    alone = scorer.score(crops[1:2])
    np.testing.assert_allclose(alone.fused, scores.fused[1:2], atol=1e-5)
    empty = scorer.score(crops[:0])
    assert empty.fused.shape == (0,) and empty.per_branch[Branch.FACE].shape == (0,)


def test_scores_of_batches_concatenate_and_are_taken_back_in_any_order() -> None:
    def batch(values: list[float]) -> CropScores:
        array = np.array(values)
        return CropScores(array, {Branch.FACE: array / 2}, array * 10)

    joined = concat_scores([batch([0.1, 0.2]), batch([]), batch([0.3])], [Branch.FACE])
    np.testing.assert_allclose(joined.fused, [0.1, 0.2, 0.3])
    taken = take_scores(joined, [2, 0])
    np.testing.assert_allclose(taken.fused, [0.3, 0.1])
    np.testing.assert_allclose(taken.per_branch[Branch.FACE], [0.15, 0.05])
    assert taken.novelty is not None
    np.testing.assert_allclose(taken.novelty, [3.0, 1.0])


def test_the_face_detector_is_named_by_its_weights_or_by_its_untrained_state(
    settings: Settings,
) -> None:
    detector, manifest, sha = load_face_detector(settings.model)
    assert manifest is not None and sha == manifest.sha256 and len(sha) == 64
    untrained, none, untrained_sha = load_face_detector(
        settings.model.model_copy(update={"weights": None})
    )
    assert none is None and untrained_sha != sha and len(untrained_sha) == 64
    assert untrained.spec.name == detector.spec.name
