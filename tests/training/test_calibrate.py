from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deepfake_stream.cli import EXIT_CONFIG, EXIT_USAGE, main
from deepfake_stream.config import Settings
from deepfake_stream.detection.aggregate import verdict_for
from deepfake_stream.detection.weights import WeightsManifest, read_manifest
from deepfake_stream.errors import ConfigError
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.calibrate import (
    REPORTED_PROBABILITY_STEP,
    calibrate,
    calibration_from_scores,
    fake_calibration_from_scores,
    thresholds_manifest,
)
from deepfake_stream.training.evaluate import NO_FACE_PROBABILITY, Scores, score_crops
from support.settings import analyses

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "weights" / "srm-lite0-dfdc.json"


def scores_of(rows: list[tuple[str, int, str, float]], no_face: list[str]) -> Scores:
    scores = Scores()
    for name, label, family, probability in rows:
        scores.names.append(name)
        scores.labels.append(label)
        scores.families.append(family)
        scores.probabilities.append(probability)
    scores.no_face = no_face
    return scores


def test_the_real_threshold_leaves_at_most_the_allowed_share_of_fakes_below_it() -> None:
    fakes = [(f"swap_{i}.mp4", 1, "swap", p) for i, p in enumerate([0.01, 0.03, 0.2, 0.4, 0.9])]
    heads = [(f"head_{i}.mp4", 1, "head", p) for i, p in enumerate([0.02, 0.05, 0.06, 0.3, 0.7])]
    reals = [(f"real_{i}.mp4", 0, "real", p) for i, p in enumerate([0.001, 0.025, 0.5])]
    blank = [("head_blank.mp4", 1, "head", NO_FACE_PROBABILITY)]
    scores = scores_of(fakes + heads + reals + blank, no_face=["head_blank.mp4"])
    record = calibration_from_scores(scores, 0.55, 0.2, "set", "cmd")
    # 10 fakes with a face (the faceless one does not count), 2 may fall below: the cut is the
    # third lowest fake probability, less half the step results are rounded to.
    assert record.fakes == 10 and record.reals == 3
    assert record.real_below == pytest.approx(0.03 - REPORTED_PROBABILITY_STEP / 2)
    assert record.fakes_below_by_family == {"head": 0.2, "swap": 0.2}
    assert record.reals_below == pytest.approx(2 / 3, abs=1e-4)
    assert record.validation_real_below == 0.55
    # Never above the validation threshold: calibration only takes `real` verdicts away.
    assert calibration_from_scores(scores, 0.02, 0.2, "set", "cmd").real_below == 0.02
    with pytest.raises(ValueError, match="no fake"):
        calibration_from_scores(scores_of(reals, []), 0.5, 0.1, "set", "cmd")
    # A photo threshold stays under the video threshold in force (its ceiling).
    capped = calibration_from_scores(scores, 0.55, 0.2, "set", "cmd", ceiling=0.01)
    assert capped.real_below == 0.01 and capped.validation_real_below == 0.55


def uncalibrated(manifest: WeightsManifest) -> WeightsManifest:
    """The manifest as training wrote it: the real threshold chosen on validation."""
    calibration = manifest.calibration or manifest.photo_calibration
    if calibration is None:
        return manifest
    thresholds = manifest.thresholds.model_copy(
        update={"real_below": calibration.validation_real_below, "photo_real_below": None}
    )
    return manifest.model_copy(
        update={"thresholds": thresholds, "calibration": None, "photo_calibration": None}
    )


@pytest.fixture
def own_weights(tmp_path: Path) -> Path:
    """A copy of the shipped release, before its calibration, that a test may rewrite."""
    manifest = read_manifest(SHIPPED)
    (tmp_path / SHIPPED.name).write_text(uncalibrated(manifest).model_dump_json(indent=2))
    shutil.copy(SHIPPED.parent / manifest.file, tmp_path / manifest.file)
    return tmp_path / SHIPPED.name


@pytest.fixture
def media(fixtures: Path, tmp_path: Path) -> Path:
    root = tmp_path / "unseen-methods"
    for folder, name, as_name in [
        ("fake", "fake_dfdc_2s.mp4", "dfdc_clip.mp4"),
        ("fake", "noface.jpg", "gan_blank.jpg"),  # no face: left out, not counted
        ("real", "real_hdtf_2s.mp4", "hdtf.mp4"),
        ("real", "photo.jpg", "photo.jpg"),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures / name, root / folder / as_name)
    return root


def test_calibrate_writes_the_threshold_the_service_then_uses(
    settings: Settings, own_weights: Path, media: Path
) -> None:
    configured = settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": own_weights})}
    )
    validation_real_below = read_manifest(own_weights).thresholds.real_below
    analyzer = Analyzer(configured)
    try:
        fake = analyzer.analyze(media / "fake" / "dfdc_clip.mp4").probability
        outcome = calibrate(configured, analyzer, media, 0.0, write=True, command="test")
    finally:
        analyzer.close()
    assert fake is not None
    record = outcome.calibration
    assert outcome.manifest == own_weights and record.fakes == 1 and record.reals == 2
    # No fake may fall below: the cut is the one fake's own probability, unless that is above
    # the validation threshold already.
    expected = min(fake - REPORTED_PROBABILITY_STEP / 2, validation_real_below)
    assert record.real_below == pytest.approx(expected, abs=1e-6)
    written = read_manifest(own_weights)
    assert written.thresholds.real_below == record.real_below
    assert written.thresholds.fake_at_or_above == read_manifest(SHIPPED).thresholds.fake_at_or_above
    assert written.calibration == record and written.sha256 == read_manifest(SHIPPED).sha256

    # The service loads the rewritten manifest (the weights' sha256 still holds) and uses it.
    calibrated = Analyzer(configured)
    try:
        assert calibrated.model.policy.real_below == record.real_below
        assert calibrated.model.policy.validation_real_below == validation_real_below
        result = calibrated.analyze(media / "fake" / "dfdc_clip.mp4")
        assert result.verdict.value != "real"
        assert result.settings.real_below == record.real_below
        # Calibrating again starts from the validation threshold, not from the last result.
        again = calibrate(configured, calibrated, media, 0.5, write=False, command="test")
    finally:
        calibrated.close()
    assert again.calibration.validation_real_below == validation_real_below
    assert read_manifest(own_weights) == written  # not written without write


def test_a_file_between_the_two_real_thresholds_says_why_it_is_uncertain(
    settings: Settings, own_weights: Path, fixtures: Path, media: Path
) -> None:
    configured = settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": own_weights})}
    )
    analyzer = Analyzer(configured)
    try:
        real = analyzer.analyze(fixtures / "real_hdtf_2s.mp4")
        assert real.verdict.value == "real" and real.probability is not None
        # Calibrate on a set whose one fake scores above this real clip: the clip is then
        # under the validation threshold but not under the calibrated one.
        (media / "fake" / "dfdc_clip.mp4").unlink()
        shutil.copy(fixtures / "real_hdtf_2s.mp4", media / "fake" / "lookalike.mp4")
        shutil.copy(fixtures / "fake_dfdc_2s.mp4", media / "fake" / "dfdc_clip.mp4")
        calibrate(configured, analyzer, media, 0.0, write=True, command="test")
    finally:
        analyzer.close()
    calibrated = Analyzer(configured)
    try:
        result = calibrated.analyze(fixtures / "real_hdtf_2s.mp4")
    finally:
        calibrated.close()
    assert result.probability == pytest.approx(real.probability, abs=1e-4)
    assert result.verdict.value == "uncertain"
    assert any("methods it was not trained on" in warning for warning in result.warnings)


def test_calibrate_refuses_configs_it_cannot_calibrate(
    settings: Settings, tmp_path: Path, media: Path
) -> None:
    fixed = settings.model_copy(
        update={"verdict": settings.verdict.model_copy(update={"real_below": 0.3})}
    )
    with pytest.raises(ConfigError, match="verdict.real_below"):
        thresholds_manifest(fixed)
    config = tmp_path / "fixed.yaml"
    config.write_text("verdict:\n  real_below: 0.3\n")
    assert main(["calibrate", str(media), "--config", str(config)]) == EXIT_CONFIG
    assert main(["calibrate", str(media), "--max-missed-fake-rate", "1.5"]) == EXIT_USAGE
    assert main(["calibrate", str(media), "--max-false-fake-rate", "-0.1"]) == EXIT_USAGE


def with_weights(settings: Settings, weights: Path) -> Settings:
    return settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": weights})}
    )


def test_face_crops_calibrate_the_photo_threshold_and_leave_the_video_one(
    settings: Settings, own_weights: Path, face_folder: Path, fixtures: Path
) -> None:
    configured = with_weights(settings, own_weights)
    video_real_below = read_manifest(own_weights).thresholds.real_below
    analyzer = Analyzer(configured)
    try:
        scores = score_crops(face_folder, analyzer)
        outcome = calibrate(configured, analyzer, face_folder, 0.0, write=True, command="test")
    finally:
        analyzer.close()
    record = outcome.calibration
    assert outcome.photos and record.fakes == 4 and record.reals == 4
    fakes = [p for p, label in zip(scores.probabilities, scores.labels, strict=True) if label]
    expected = min(min(fakes) - REPORTED_PROBABILITY_STEP / 2, video_real_below)
    assert record.real_below == pytest.approx(expected, abs=1e-6)
    written = read_manifest(own_weights)
    assert written.thresholds.photo_real_below == record.real_below
    assert written.thresholds.real_below == video_real_below  # videos keep theirs
    assert written.photo_calibration == record and written.calibration is None
    assert written.sha256 == read_manifest(SHIPPED).sha256

    calibrated = Analyzer(configured)
    try:
        assert calibrated.model.policy.photo_real_below == record.real_below
        assert calibrated.model.policy.real_below == video_real_below
        photo = calibrated.analyze(fixtures / "photo.jpg")
        video = calibrated.analyze(fixtures / "real_hdtf_2s.mp4")
    finally:
        calibrated.close()
    assert photo.settings.real_below == record.real_below
    assert photo.verdict == verdict_for(
        photo.probability, record.real_below, written.thresholds.fake_at_or_above
    )
    assert video.settings.real_below == video_real_below


def test_a_photo_under_the_video_threshold_but_not_the_photo_one_is_uncertain(
    settings: Settings, own_weights: Path, fixtures: Path
) -> None:
    configured = with_weights(settings, own_weights)
    photo_file, video_file = fixtures / "photo.jpg", fixtures / "real_hdtf_2s.mp4"
    before, video = analyses(configured, photo_file, video_file)
    assert before.verdict.value == "real" and before.probability is not None
    assert video.verdict.value == "real"
    # A photo threshold under this photo's probability, as a calibration on generated faces
    # that score like it would write.
    manifest = read_manifest(own_weights)
    validation_real_below = manifest.thresholds.real_below
    photo_real_below = before.probability / 2
    record = calibration_from_scores(
        scores_of([("gan.jpg", 1, "gan", photo_real_below)], []),
        validation_real_below,
        0.0,
        "gan",
        "test",
    )
    own_weights.write_text(
        manifest.model_copy(
            update={
                "thresholds": manifest.thresholds.model_copy(
                    update={"photo_real_below": record.real_below}
                ),
                "photo_calibration": record,
            }
        ).model_dump_json(indent=2)
    )
    photo, still_real = analyses(configured, photo_file, video_file)
    assert photo.probability == pytest.approx(before.probability, abs=1e-4)
    assert photo.verdict.value == "uncertain"
    assert any("generated faces score this low" in warning for warning in photo.warnings)
    # Videos keep the video threshold: the same clip is still real, without that warning.
    assert still_real.verdict.value == "real"
    assert not any("score this low" in warning for warning in still_real.warnings)


def test_held_out_reals_and_the_tradeoff_are_recorded_with_the_rule() -> None:
    fakes = [(f"head_{i}.mp4", 1, "head", p) for i, p in enumerate([i / 20 for i in range(1, 21)])]
    scores = scores_of(fakes, no_face=[])
    lfw = scores_of([(f"lfw_{i}.jpg", 0, "real", p) for i, p in enumerate([0.01, 0.08, 0.5])], [])
    record = calibration_from_scores(scores, 0.9, 0.1, "set", "cmd", held_out_reals={"lfw": lfw})
    # 20 fakes at 0.05 ... 1.0: 10% may fall below, so the cut sits just under 0.15.
    assert record.real_below == pytest.approx(0.15 - REPORTED_PROBABILITY_STEP / 2)
    assert record.held_out_reals_below == {"lfw": pytest.approx(2 / 3, abs=1e-4)}
    rates = [row["max_missed_fake_rate"] for row in record.tradeoff]
    assert rates == sorted(rates) and 0.1 in rates
    cuts = [row["real_below"] for row in record.tradeoff]
    assert cuts == sorted(cuts)  # a looser rule never calls fewer faces real
    for row in record.tradeoff:
        assert row["fakes_below"] <= row["max_missed_fake_rate"]
    strictest = record.tradeoff[0]  # 2%: none of the 20 fakes below, nor the reals above 0.05
    assert strictest["fakes_below"] == 0.0 and strictest["lfw"] == pytest.approx(1 / 3, abs=1e-4)


def test_held_out_real_photos_raise_the_photo_fake_threshold_by_the_rule() -> None:
    lfw = scores_of([(f"lfw_{i}.jpg", 0, "real", i / 100) for i in range(1, 101)], [])
    few = scores_of(
        [("other_0.jpg", 0, "real", 0.995), ("blank.jpg", 0, "real", 0.5)], ["blank.jpg"]
    )
    gan = scores_of([(f"gan_{i}.jpg", 1, "gan", p) for i, p in enumerate([0.5, 0.97, 0.999])], [])
    record = fake_calibration_from_scores({"lfw": lfw, "other": few}, gan, 0.8, 0.02, "cmd")
    # 101 real photos with a face (0.01 ... 1.0 and 0.995): at most 2 of them may be fake.
    assert record.reals == 101 and record.data == ["lfw", "other"]
    assert record.fake_at_or_above == 0.995
    assert record.reals_at_or_above == {"lfw": 0.01, "other": 1.0}
    assert record.fakes_at_or_above == pytest.approx(1 / 3, abs=1e-4)
    assert record.validation_fake_at_or_above == 0.8
    # The top of the reals, kept for photos of several faces: the 2 that may be fake, and 1.
    assert record.real_tail == [1.0, 0.995, 0.99]
    assert record.fake_at_or_above_for(1) == 0.995
    assert record.fake_at_or_above_for(2) == 1.0  # each face held to ~1%: one real at or above
    assert record.fake_at_or_above_for(6) > 1.0  # ~0.34% of 101: no real may be fake
    cuts = [row["fake_at_or_above"] for row in record.tradeoff]
    assert cuts == sorted(cuts, reverse=True)  # a looser rule never calls fewer reals fake
    # Never below the validation threshold: calibration only takes `fake` verdicts away.
    loose = fake_calibration_from_scores({"lfw": lfw}, gan, 0.8, 0.5, "cmd")
    assert loose.fake_at_or_above == 0.8
    with pytest.raises(ValueError, match="no held-out real photo"):
        fake_calibration_from_scores({"few": scores_of([], [])}, gan, 0.8, 0.02, "cmd")


def test_held_out_real_photos_calibrate_the_photo_fake_threshold_the_service_uses(
    settings: Settings, own_weights: Path, face_folder: Path, fixtures: Path
) -> None:
    configured = with_weights(settings, own_weights)
    video_fake_at = read_manifest(own_weights).thresholds.fake_at_or_above
    analyzer = Analyzer(configured)
    try:
        reals = score_crops(face_folder, analyzer)
        outcome = calibrate(
            configured,
            analyzer,
            face_folder,
            0.0,
            write=True,
            command="test",
            reals=[face_folder],
            max_false_fake_rate=0.0,
        )
    finally:
        analyzer.close()
    record = outcome.photo_fake
    assert record is not None and record.reals == 4 and record.max_false_fake_rate == 0.0
    # None of the four real crops may be fake: the cut is above the highest (or validation's).
    highest = max(
        p for p, label in zip(reals.probabilities, reals.labels, strict=True) if not label
    )
    assert record.fake_at_or_above > highest or record.fake_at_or_above == video_fake_at
    assert record.fake_at_or_above >= video_fake_at and record.reals_at_or_above == {
        face_folder.name: 0.0
    }
    written = read_manifest(own_weights)
    assert written.thresholds.photo_fake_at_or_above == record.fake_at_or_above
    assert written.thresholds.fake_at_or_above == video_fake_at  # videos keep theirs
    assert written.photo_fake_calibration == record

    photo, video = analyses(configured, fixtures / "photo.jpg", fixtures / "real_hdtf_2s.mp4")
    assert photo.settings.fake_at_or_above == record.fake_at_or_above
    assert video.settings.fake_at_or_above == video_fake_at
