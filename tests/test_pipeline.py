from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import AnalysisOptions, Settings, load_settings
from deepfake_stream.detection.aggregate import Verdict
from deepfake_stream.detection.background import BackgroundScoring
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.detection.weights import read_manifest
from deepfake_stream.errors import AnalysisTimeoutError, CorruptMediaError
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.schema import AnalysisResult
from deepfake_stream.verdict import UNTRAINED_WARNING
from support.settings import analyses, with_time_limit


def test_video_result_holds_segments_people_model_settings_and_timings(
    analyzer: Analyzer, fixtures: Path
) -> None:
    result = analyzer.analyze(fixtures / "fake_dfdc_2s.mp4", file_name="clip.mp4")
    assert result.file_name == "clip.mp4"
    assert result.media.type == "video" and result.media.format == "mp4"
    assert (result.media.width, result.media.height) == (480, 270)
    assert result.media.frames_sampled == 32
    assert len(result.segments) == 8
    for segment in result.segments:
        assert len(segment.faces) == 4
        assert segment.start_s <= segment.faces[0].time_s < segment.end_s
        assert segment.probability == pytest.approx(
            sum(f.probability for f in segment.faces) / 4, abs=1e-3
        )
    assert [person.track_id for person in result.people] == [0]
    assert len(result.people[0].boxes) == 32
    assert result.probability == pytest.approx(
        sum(s.probability for s in result.segments if s.probability is not None) / 8, abs=1e-3
    )
    assert not result.model.untrained and result.model.weights_name == "srm-lite0-wild"
    assert len(result.model.weights_sha256) == 64
    assert result.settings.segments == 8 and result.settings.frames_per_segment == 4
    assert result.timings.total_ms >= result.timings.decode_ms + result.timings.detect_ms
    assert min(result.timings.decode_ms, result.timings.detect_ms, result.timings.classify_ms) > 0
    assert UNTRAINED_WARNING not in result.warnings
    # The shipped weights' crop is the one in force, and the result says so.
    weights = analyzer.settings.model.weights
    assert weights is not None
    assert result.settings.crop == read_manifest(weights).crop
    assert result.settings.crop.margin == -0.15 and result.settings.crop.max_native_side == 160
    # The schema round-trips through JSON.
    assert AnalysisResult.model_validate_json(result.model_dump_json()) == result


def test_per_request_sampling_overrides(analyzer: Analyzer, fixtures: Path) -> None:
    result = analyzer.analyze(
        fixtures / "real_hdtf_2s.mp4", AnalysisOptions(segments=3, frames_per_segment=2)
    )
    assert len(result.segments) == 3 and result.media.frames_sampled == 6
    assert result.settings.segments == 3 and result.settings.frames_per_segment == 2


def test_image_is_one_segment_of_one_frame(analyzer: Analyzer, fixtures: Path) -> None:
    result = analyzer.analyze(fixtures / "group.jpg")
    assert result.media.type == "image" and result.media.frames_sampled == 1
    assert len(result.segments) == 1 and len(result.segments[0].faces) == 6
    assert len(result.people) == 6
    assert result.segments[0].probability == pytest.approx(
        max(p.probability for p in result.people), abs=1e-3
    )


def test_no_face_is_an_explicit_verdict_not_a_half(analyzer: Analyzer, fixtures: Path) -> None:
    result = analyzer.analyze(fixtures / "noface.jpg")
    assert result.verdict is Verdict.NO_FACE
    assert result.probability is None
    assert result.people == [] and result.segments[0].probability is None


def test_bad_media_raises_a_media_error(analyzer: Analyzer, fixtures: Path) -> None:
    with pytest.raises(CorruptMediaError):
        analyzer.analyze(fixtures / "truncated.mp4")


def test_truncated_video_result_says_what_is_missing(analyzer: Analyzer, fixtures: Path) -> None:
    result = analyzer.analyze(fixtures / "truncated_faststart.mp4")
    assert any("truncated" in warning for warning in result.warnings)
    assert result.segments[-1].probability is None  # nothing was seen there
    assert result.segments[0].probability is not None


def test_an_untrained_model_never_judges_and_says_why(settings: Settings, fixtures: Path) -> None:
    untrained_settings = settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": None})}
    )
    untrained = Analyzer(untrained_settings)
    try:
        result = untrained.analyze(fixtures / "photo.jpg")
    finally:
        untrained.close()
    assert result.model.untrained and result.model.weights_name == "untrained"
    assert result.verdict is Verdict.UNCERTAIN
    assert UNTRAINED_WARNING in result.warnings
    # Untrained: the architecture's own crop, not the shipped release's.
    assert result.settings.crop == get_spec("srm_efficientnet_lite0").crop
    assert result.settings.crop.jpeg_quality is None


def test_thresholds_set_in_the_config_judge_photos_and_videos_alike(
    settings: Settings, fixtures: Path
) -> None:
    verdict = settings.verdict.model_copy(update={"real_below": 0.001, "fake_at_or_above": 0.002})
    configured = Analyzer(settings.model_copy(update={"verdict": verdict}))
    try:
        model = configured.model
        photo = configured.analyze(fixtures / "photo.jpg")
    finally:
        configured.close()
    assert (model.policy.real_below, model.policy.photo_real_below) == (0.001, 0.001)
    assert (model.policy.fake_at_or_above, model.policy.photo_fake_at_or_above) == (0.002, 0.002)
    assert (photo.settings.real_below, photo.settings.fake_at_or_above) == (0.001, 0.002)


def test_the_ensemble_config_runs_both_shipped_branches(
    settings: Settings, fixtures: Path, tmp_path: Path
) -> None:
    ensemble = load_settings(Path(__file__).parent.parent / "configs" / "ensemble.yaml")
    ensemble = ensemble.model_copy(
        update={"model": ensemble.model.model_copy(update={"onnx_cache_dir": tmp_path})}
    )
    analyzer = Analyzer(ensemble)
    try:
        result = analyzer.analyze(fixtures / "fake_dfdc_2s.mp4")
        alone = analyzer.analyze(fixtures / "real_hdtf_2s.mp4")
    finally:
        analyzer.close()
    assert result.model.branches == ["face", "frequency"]
    assert result.model.fusion == "fusion-wild-face"
    assert [w.weights_name for w in result.model.branch_weights] == ["dct-cnn-multi"]
    assert result.probability is not None and result.novelty is not None
    face, frequency = result.branches["face"], result.branches["frequency"]
    assert face is not None and frequency is not None
    # The fused probability is a weighted mean of the two, in logit space.
    assert min(face, frequency) - 0.05 <= result.probability <= max(face, frequency) + 0.05
    assert set(alone.branches) == {"face", "frequency"}
    # The verdict comes from the fusion's thresholds, or abstains with its reason.
    thresholds = (result.settings.real_below, result.settings.fake_at_or_above)
    assert thresholds != (0.554, 0.867)
    for analysed in (result, alone):
        if any("unlike those the model was trained on" in w for w in analysed.warnings):
            assert analysed.verdict is Verdict.UNCERTAIN and (analysed.novelty or 0) > 1


def test_an_analysis_past_its_time_limit_stops_with_its_own_error(
    analyzer: Analyzer, fixtures: Path
) -> None:
    began = time.monotonic()
    with pytest.raises(AnalysisTimeoutError) as raised:
        with_time_limit(analyzer, 0.05).analyze(fixtures / "real_hdtf_2s.mp4")
    # Stopped at the first check past the limit (one detection batch), not at the end.
    assert time.monotonic() - began < 2.0
    assert raised.value.code == "analysis_timeout" and raised.value.http_status == 422
    assert "time limit of 0.05 s" in raised.value.message
    assert analyzer.settings.limits.max_analysis_s == 120.0  # the shared analyzer is untouched


def test_background_scoring_gives_each_kept_face_its_own_scores(
    analyzer: Analyzer, fixtures: Path
) -> None:
    """Faces are scored batch by batch while detection goes on; tracking then drops some and
    orders the rest: each kept face must still get the scores of its own crop."""
    sampling = analyzer.settings.sampling.model_copy(
        update={"segments": 3, "frames_per_segment": 2}
    )
    media = load_media(fixtures / "two_people_2s.mp4", analyzer.settings.limits, sampling)
    found = analyzer.faces.detect(
        [frame.picture for frame in media.frames], analyzer.settings.faces.detect_short_side
    )
    everyone = [face for faces in found for face in faces]
    kept = everyone[::-1][::2]  # a subset, in another order than scored
    assert len(kept) >= 3
    with ThreadPoolExecutor(max_workers=1) as pool:
        scoring = BackgroundScoring(pool, analyzer.score_crops)
        scoring.submit(found[:2])
        scoring.submit([[], []])  # a batch of frames without faces
        scoring.submit(found[2:])
        scoring.wait()
        got = scoring.scores_of(kept, analyzer.branches)
        nobody = scoring.scores_of([], analyzer.branches)
    direct = analyzer.score_crops(np.stack([face.crop for face in kept]))
    np.testing.assert_allclose(got.fused, direct.fused, rtol=1e-5, atol=1e-6)
    for branch in analyzer.branches:
        np.testing.assert_allclose(
            got.per_branch[branch], direct.per_branch[branch], rtol=1e-5, atol=1e-6
        )
    assert len(nobody.fused) == 0 and all(len(v) == 0 for v in nobody.per_branch.values())
    assert scoring.busy_seconds > 0


def test_a_group_photo_is_judged_with_the_threshold_for_its_number_of_faces(
    settings: Settings, fixtures: Path, tmp_path: Path
) -> None:
    import shutil

    from deepfake_stream.detection.weights import FakeCalibration, read_manifest, write_manifest

    assert settings.model.weights is not None
    shipped = read_manifest(settings.model.weights)
    shutil.copy(settings.model.weights.parent / shipped.file, tmp_path / shipped.file)
    record = FakeCalibration(
        validation_fake_at_or_above=shipped.thresholds.fake_at_or_above,
        fake_at_or_above=0.9,
        max_false_fake_rate=0.02,
        data=["reals"],
        reals=1000,
        reals_at_or_above={"reals": 0.02},
        fakes_at_or_above=0.5,
        real_tail=[1 - n / 1000 for n in range(21)],  # 1.0, 0.999, ... 0.98
        command="test",
    )
    thresholds = shipped.thresholds.model_copy(update={"photo_fake_at_or_above": 0.9})
    manifest = tmp_path / "calibrated.json"
    write_manifest(
        manifest,
        shipped.model_copy(update={"thresholds": thresholds, "photo_fake_calibration": record}),
    )
    calibrated = settings.model_copy(
        update={"model": settings.model.model_copy(update={"weights": manifest})}
    )
    portrait, group = analyses(calibrated, fixtures / "photo.jpg", fixtures / "group.jpg")
    assert len(portrait.people) == 1 and portrait.settings.fake_at_or_above == 0.9
    faces = len(group.people)
    assert faces >= 3
    expected = record.fake_at_or_above_for(faces)
    assert expected > 0.9 and group.settings.fake_at_or_above == expected
    for person in group.people:  # each face is judged by the same, raised, threshold
        assert (person.verdict is Verdict.FAKE) == (person.probability >= expected)
