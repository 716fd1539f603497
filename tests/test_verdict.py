from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.config import VerdictSettings
from deepfake_stream.detection.aggregate import Verdict
from deepfake_stream.detection.fusion import Branch, read_fusion_manifest
from deepfake_stream.detection.weights import UNTRAINED_THRESHOLDS, read_manifest
from deepfake_stream.errors import ConfigError
from deepfake_stream.verdict import (
    UNTRAINED_WARNING,
    calibrated_real_warning,
    policy_for,
    weigh_voice,
)

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
FACE = read_manifest(WEIGHTS / "srm-lite0-dfdc.json")
FUSION = read_fusion_manifest(WEIGHTS / "fusion-dfdc-face.json")


def test_the_shipped_weights_thresholds_are_in_force_for_photos_and_videos() -> None:
    policy = policy_for(VerdictSettings(), FACE)
    thresholds = FACE.thresholds
    assert policy.thresholds(photo=False) == (thresholds.real_below, thresholds.fake_at_or_above)
    assert policy.thresholds(photo=True) == (
        thresholds.photo_real_below_in_force(),
        thresholds.photo_fake_at_or_above_in_force(),
    )
    assert not policy.untrained and policy.disagreement is None
    # The calibration lowered the real threshold: the one chosen on validation is kept, to say
    # why a file under it is still uncertain.
    calibration = FACE.calibration or FACE.photo_calibration
    assert calibration is not None
    assert policy.validation_real_below == calibration.validation_real_below


def test_a_video_between_calibrated_and_validation_thresholds_is_uncertain_and_says_why() -> None:
    policy = policy_for(VerdictSettings(), FACE)
    assert policy.validation_real_below is not None
    between = (policy.real_below + policy.validation_real_below) / 2
    verdict, warnings = policy.judge(between, {Branch.FACE: between}, None, photo=False)
    assert verdict is Verdict.UNCERTAIN
    assert len(warnings) == 1 and "methods it was not trained on score this low" in warnings[0]
    verdict, warnings = policy.judge(policy.real_below / 2, {}, None, photo=False)
    assert verdict is Verdict.REAL and warnings == []
    verdict, warnings = policy.judge(policy.fake_at_or_above, {}, None, photo=False)
    assert verdict is Verdict.FAKE and warnings == []
    assert policy.judge(None, {}, None, photo=False) == (Verdict.NO_FACE, [])


def test_config_thresholds_override_photos_and_videos_and_drop_the_validation_note() -> None:
    policy = policy_for(VerdictSettings(real_below=0.2, fake_at_or_above=0.6), FACE)
    assert policy.thresholds(photo=True) == policy.thresholds(photo=False) == (0.2, 0.6)
    assert policy.validation_real_below is None
    assert policy.person(0.1, photo=True) is Verdict.REAL
    assert policy.person(0.6, photo=False) is Verdict.FAKE
    assert policy.person(0.3, photo=False) is Verdict.UNCERTAIN


def test_a_config_real_threshold_above_the_weights_fake_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="real_below must not exceed"):
        policy_for(VerdictSettings(real_below=0.99), FACE)


def test_an_untrained_model_is_never_real_or_fake() -> None:
    policy = policy_for(VerdictSettings(), None)
    assert policy.untrained and policy.thresholds(photo=True) == UNTRAINED_THRESHOLDS
    for probability in (0.0, 0.5, 1.0):
        verdict, warnings = policy.judge(probability, {}, None, photo=False)
        assert verdict is Verdict.UNCERTAIN and warnings == [UNTRAINED_WARNING]
        assert policy.person(probability, photo=True) is Verdict.UNCERTAIN
    assert policy.judge(None, {}, None, photo=True) == (Verdict.NO_FACE, [UNTRAINED_WARNING])


def test_with_a_fusion_disagreeing_branches_or_novel_faces_make_a_verdict_uncertain() -> None:
    policy = policy_for(VerdictSettings(), FUSION)
    assert policy.disagreement == FUSION.disagreement
    fake_at = policy.fake_at_or_above
    agreeing = {Branch.FACE: 0.99, Branch.FREQUENCY: 0.9}
    assert policy.judge(fake_at, agreeing, 0.5, photo=False) == (Verdict.FAKE, [])
    disagreeing = {Branch.FACE: 0.99, Branch.FREQUENCY: 0.01}
    verdict, warnings = policy.judge(fake_at, disagreeing, 0.5, photo=False)
    assert verdict is Verdict.UNCERTAIN and "branches disagree" in warnings[0]
    verdict, warnings = policy.judge(fake_at, agreeing, 1.5, photo=False)
    assert verdict is Verdict.UNCERTAIN and "unlike those the model was trained on" in warnings[0]
    # An uncertain verdict needs no abstention.
    middle = (policy.real_below + fake_at) / 2
    assert policy.judge(middle, disagreeing, 1.5, photo=False)[0] is Verdict.UNCERTAIN


def test_the_calibrated_real_warning_names_photos_and_videos_apart() -> None:
    assert calibrated_real_warning(None, 0.01, 0.5) is None
    assert calibrated_real_warning(0.3, 0.01, None) is None
    assert calibrated_real_warning(0.005, 0.01, 0.5) is None  # real: nothing to explain
    assert calibrated_real_warning(0.6, 0.01, 0.5) is None  # the validation threshold's too
    photo = calibrated_real_warning(0.3, 0.01, 0.5, photo=True)
    assert photo is not None and "generated faces score this low" in photo
    assert "a photo real" in photo


def test_a_photo_of_several_faces_is_held_to_the_group_photo_threshold_and_says_so() -> None:
    from deepfake_stream.detection.weights import FakeCalibration

    record = FakeCalibration(
        validation_fake_at_or_above=0.8,
        fake_at_or_above=0.9,
        max_false_fake_rate=0.02,
        data=["lfw"],
        reals=100,
        reals_at_or_above={"lfw": 0.02},
        fakes_at_or_above=0.5,
        real_tail=[0.97, 0.95, 0.9],  # 100 reals: 2 may be at or above 0.9
        command="test",
    )
    thresholds = FACE.thresholds.model_copy(update={"photo_fake_at_or_above": 0.9})
    calibrated = FACE.model_copy(
        update={"thresholds": thresholds, "photo_fake_calibration": record}
    )
    policy = policy_for(VerdictSettings(), calibrated)
    assert policy.thresholds(photo=True)[1] == 0.9
    assert policy.thresholds(photo=True, faces=2)[1] == 0.97  # each face held to ~1%: 1 real
    assert policy.thresholds(photo=False, faces=6) == policy.thresholds(photo=False)  # videos
    verdict, warnings = policy.judge(0.95, {}, None, photo=True, faces=2)
    assert verdict is Verdict.UNCERTAIN
    assert len(warnings) == 1 and "2 faces were judged" in warnings[0]
    assert policy.judge(0.95, {}, None, photo=True) == (Verdict.FAKE, [])
    assert policy.person(0.95, photo=True, faces=2) is Verdict.UNCERTAIN
    # The config's threshold is the operator's: it is not raised.
    fixed = policy_for(VerdictSettings(fake_at_or_above=0.9), calibrated)
    assert fixed.thresholds(photo=True, faces=6)[1] == 0.9


@pytest.mark.parametrize(
    ("face", "voice", "expected"),
    [
        (Verdict.REAL, None, Verdict.REAL),
        (Verdict.REAL, "no_speech", Verdict.REAL),
        (Verdict.REAL, "real", Verdict.REAL),
        (Verdict.REAL, "uncertain", Verdict.REAL),  # with a warning
        (Verdict.REAL, "fake", Verdict.FAKE),  # a cloned voice over a real face
        (Verdict.FAKE, "real", Verdict.FAKE),
        (Verdict.UNCERTAIN, "real", Verdict.UNCERTAIN),
        (Verdict.UNCERTAIN, "fake", Verdict.FAKE),
        (Verdict.NO_FACE, "real", Verdict.REAL),
        (Verdict.NO_FACE, "uncertain", Verdict.UNCERTAIN),
        (Verdict.NO_FACE, "no_speech", Verdict.NO_FACE),
    ],
)
def test_the_voice_is_weighed_with_the_faces(
    face: Verdict, voice: str | None, expected: Verdict
) -> None:
    verdict, warnings = weigh_voice(face, voice)
    assert verdict is expected
    # Whenever the voice changed the faces' verdict, or could not vouch for real faces, the
    # result says so.
    changed = verdict is not face and face is not Verdict.NO_FACE
    assert bool(warnings) == (changed or (face is Verdict.REAL and voice == "uncertain"))
