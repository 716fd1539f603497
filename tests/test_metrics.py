from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from deepfake_stream.metrics import (
    TEMPERATURE_MIN,
    apply_temperature,
    breakdown,
    choose_thresholds,
    classification_report,
    confusion,
    equal_error_rate,
    fit_temperature,
    log_loss,
    roc_auc,
    roc_curve,
    select_thresholds,
    temperature_nll,
)


def _mann_whitney(labels: np.ndarray, scores: np.ndarray) -> float:
    """Share of (fake, real) pairs where the fake scores higher, ties counting one half."""
    fake, real = scores[labels == 1], scores[labels == 0]
    above = (fake[:, None] > real[None, :]).sum()
    tied = (fake[:, None] == real[None, :]).sum()
    return float((above + 0.5 * tied) / (fake.size * real.size))


def _precisions(labels: np.ndarray, p: np.ndarray, t1: float, t2: float) -> tuple[float, float]:
    fake_region, real_region = p >= t2, p < t1
    return float(labels[fake_region].mean()), float(1 - labels[real_region].mean())


# --- ROC, AUC, EER ---------------------------------------------------------------------


def test_roc_curve_moves_tied_scores_together() -> None:
    fpr, tpr, thresholds = roc_curve([1, 0, 1, 0], [0.8, 0.8, 0.3, 0.1])
    assert thresholds.tolist() == [math.inf, 0.8, 0.3, 0.1]
    assert fpr.tolist() == [0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    # Diagonal step through the tie: 0.125 + 0.5, same as the pair count 2.5 / 4.
    assert roc_auc([1, 0, 1, 0], [0.8, 0.8, 0.3, 0.1]) == pytest.approx(0.625)


def test_perfect_separation_has_auc_1_and_eer_0() -> None:
    labels, scores = [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]
    assert roc_auc(labels, scores) == 1.0
    assert equal_error_rate(labels, scores) == (0.0, 0.8)


def test_reversed_scores_have_auc_0_and_eer_1() -> None:
    labels, scores = [1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]
    assert roc_auc(labels, scores) == 0.0
    assert equal_error_rate(labels, scores)[0] == 1.0


def test_all_equal_scores_have_auc_one_half() -> None:
    assert roc_auc([0, 1, 0, 1, 1], [0.3] * 5) == 0.5
    assert equal_error_rate([0, 1, 0, 1, 1], [0.3] * 5) == (0.5, 0.3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_mann_whitney_statistic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=400)
    # Few distinct values so that ties between classes are common.
    scores = rng.integers(0, 12, size=400) + 2.0 * labels
    assert roc_auc(labels, scores) == pytest.approx(_mann_whitney(labels, scores), abs=1e-12)
    continuous = rng.normal(size=400) + labels
    assert roc_auc(labels, continuous) == pytest.approx(
        _mann_whitney(labels, continuous), abs=1e-12
    )


def test_eer_at_an_exact_crossing() -> None:
    # Descending: .9 F, .7 R, .6 F, .4 F, .3 R, .2 R. At >= 0.6: FPR 1/3, FNR 1/3.
    eer, threshold = equal_error_rate([1, 0, 1, 1, 0, 0], [0.9, 0.7, 0.6, 0.4, 0.3, 0.2])
    assert eer == pytest.approx(1 / 3)
    assert threshold == 0.6


def test_eer_interpolates_between_roc_points() -> None:
    # At >= 0.8: FPR 0, FNR 1/3. At >= 0.7: FPR 1/2, FNR 1/3. FNR - FPR goes 1/3 -> -1/6,
    # crossing 2/3 of the way: EER 1/3 at threshold 0.8 + 2/3 * (0.7 - 0.8).
    eer, threshold = equal_error_rate([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.3, 0.2])
    assert eer == pytest.approx(1 / 3)
    assert threshold == pytest.approx(0.8 - 0.1 * 2 / 3)


def test_eer_of_alternating_labels() -> None:
    # .6 R, .5 F, .4 R, .3 F, .2 R, .1 F: at >= 0.4 FPR 2/3 and FNR 2/3.
    labels, scores = [0, 1, 0, 1, 0, 1], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert equal_error_rate(labels, scores) == (pytest.approx(2 / 3), 0.4)


def test_curves_need_both_classes_and_some_samples() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        equal_error_rate([0, 0], [0.2, 0.3])
    with pytest.raises(ValueError, match="empty"):
        roc_curve([], [])


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="length"):
        roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="labels"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([0, 1], [0.1, math.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss([0, 1], [0.1, 1.2])


# --- log loss, confusion, report ---------------------------------------------------------


def test_log_loss_by_hand() -> None:
    assert log_loss([0, 1, 1, 0], [0.5] * 4) == pytest.approx(math.log(2))
    assert log_loss([1, 0], [0.8, 0.2]) == pytest.approx(-math.log(0.8))
    # A certain mistake is clipped: large but finite.
    assert log_loss([1], [0.0]) == pytest.approx(-math.log(1e-7))
    assert log_loss([1], [0.0], eps=1e-3) == pytest.approx(-math.log(1e-3))


def test_confusion_counts() -> None:
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    predictions = [1, 0, 1, 1, 0, 0, 0, 1]
    assert confusion(labels, predictions) == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert confusion([1, 0], [True, True]) == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}
    with pytest.raises(ValueError, match="predictions"):
        confusion([1, 0], [0.7, 0.2])


def test_report_by_hand() -> None:
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    probabilities = [0.9, 0.5, 0.2, 0.3, 0.7, 0.1, 0.4, 0.45]
    report = classification_report(labels, probabilities, threshold=0.5)
    # Predicted fake at p >= 0.5 (0.5 included): tp = 2, fp = 1, fn = 2, tn = 3.
    assert report.confusion == {"tn": 3, "fp": 1, "fn": 2, "tp": 2}
    assert report.n == 8
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.precision == pytest.approx(2 / 3)
    assert report.recall == pytest.approx(1 / 2)
    assert report.f1 == pytest.approx(2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2))  # 4/7
    assert report.auc == pytest.approx(_mann_whitney(np.array(labels), np.array(probabilities)))
    assert report.eer == pytest.approx(equal_error_rate(labels, probabilities)[0])
    assert report.log_loss == pytest.approx(log_loss(labels, probabilities))
    assert report.threshold == 0.5
    assert json.loads(json.dumps(report.as_dict()))["confusion"]["tp"] == 2


def test_report_on_a_single_class_does_not_crash() -> None:
    report = classification_report([0, 0, 0], [0.1, 0.6, 0.3], threshold=0.5)
    assert report.auc is None and report.eer is None
    assert report.recall is None  # no fakes to recall
    assert report.precision == 0.0 and report.f1 == 0.0
    assert report.accuracy == pytest.approx(2 / 3)
    json.dumps(report.as_dict())  # None becomes null
    only_fakes = classification_report([1, 1], [0.9, 0.8], threshold=0.5)
    assert only_fakes.auc is None and only_fakes.recall == 1.0 and only_fakes.f1 == 1.0
    nothing_fake = classification_report([0, 0], [0.1, 0.2], threshold=0.5)
    assert nothing_fake.precision is None and nothing_fake.f1 is None


def test_report_on_empty_input_raises() -> None:
    with pytest.raises(ValueError, match="empty"):
        classification_report([], [], threshold=0.5)


def test_breakdown_by_group() -> None:
    labels = [1, 0, 1, 0, 0, 1]
    probabilities = [0.9, 0.2, 0.4, 0.6, 0.1, 0.8]
    groups = ["youtube", "youtube", "df", "df", "real_only", "df"]
    table = breakdown(labels, probabilities, groups, threshold=0.5)
    assert list(table) == ["df", "real_only", "youtube"]
    assert table["youtube"].n == 2 and table["youtube"].auc == 1.0
    assert table["df"].confusion == {"tn": 0, "fp": 1, "fn": 1, "tp": 1}
    assert table["real_only"].auc is None and table["real_only"].accuracy == 1.0
    with pytest.raises(ValueError, match="groups"):
        breakdown(labels, probabilities, groups[:-1], threshold=0.5)


# --- temperature --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overconfident() -> tuple[np.ndarray, np.ndarray]:
    """Logits 3x too confident: labels drawn from sigmoid(true logit), logits = 3 * true."""
    rng = np.random.default_rng(42)
    true_logit = rng.normal(0.0, 2.0, size=20_000)
    labels = (rng.random(20_000) < 1.0 / (1.0 + np.exp(-true_logit))).astype(float)
    return true_logit * 3.0, labels


def test_fitted_temperature_recovers_the_overconfidence(
    overconfident: tuple[np.ndarray, np.ndarray],
) -> None:
    logits, labels = overconfident
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    best = temperature_nll(logits, labels, temperature)
    for grid_t in np.geomspace(0.05, 50.0, 121):
        assert best <= temperature_nll(logits, labels, float(grid_t)) + 1e-12
    fine = np.linspace(2.5, 3.5, 401)  # brute force, step 0.0025
    brute = fine[np.argmin([temperature_nll(logits, labels, float(t)) for t in fine])]
    assert temperature == pytest.approx(brute, abs=2.5e-3)
    # Calibration helps: scaled probabilities beat the raw ones.
    assert log_loss(labels, apply_temperature(logits, temperature)) < log_loss(
        labels, apply_temperature(logits, 1.0)
    )


def test_temperature_edge_cases() -> None:
    # Separable data: sharper is always better, so the fit stops at the lower bound.
    assert fit_temperature([-2.0, -1.0, 1.0, 2.0], [0, 0, 1, 1]) == pytest.approx(TEMPERATURE_MIN)
    assert fit_temperature([0.0, 0.0], [0, 1]) == 1.0  # flat NLL
    assert fit_temperature([1.0, -1.0, 1.0], [1, 0, 1]) == fit_temperature(
        [1.0, -1.0, 1.0], [1, 0, 1]
    )  # deterministic
    with pytest.raises(ValueError, match="positive"):
        temperature_nll([1.0], [1], 0.0)
    assert apply_temperature([0.0, 1000.0, -1000.0], 2.0).tolist() == pytest.approx([0.5, 1, 0])


# --- thresholds ---------------------------------------------------------------------------


def test_thresholds_leave_an_uncertain_band_when_targets_allow() -> None:
    labels = np.array([0] * 20 + [0] * 5 + [1] * 5 + [1] * 20)
    p = np.array([0.1] * 20 + [0.4] * 10 + [0.9] * 20)
    choice = select_thresholds(labels, p, 0.9, 0.9)
    assert choice.rule == "targets"
    assert (choice.real_below, choice.fake_at_or_above) == (0.4, 0.9)
    assert choose_thresholds(labels, p, 0.9, 0.9) == (0.4, 0.9)


def test_thresholds_pick_the_lowest_fake_and_highest_real_cut() -> None:
    # Fakes at 0.7 and 0.8 keep fake precision 1, a real at 0.6 breaks it; mirror for reals.
    labels = np.array([0, 0, 1, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.5, 0.4, 0.7, 0.8])
    t1, t2 = choose_thresholds(labels, p, 1.0, 1.0)
    assert (t1, t2) == (0.3, 0.7)  # real for p < 0.3, fake for p >= 0.7


def test_overlapping_targets_become_one_cut() -> None:
    labels = np.array([0] * 100 + [0, 1] + [1] * 100)
    p = np.array([0.1] * 100 + [0.5, 0.5] + [0.9] * 100)
    # Alone, t2 = 0.5 (101/102 fake) and t1 = 0.9 (101/102 real below): they overlap.
    choice = select_thresholds(labels, p, 0.9, 0.9)
    assert choice.rule == "single_cut"
    assert choice.real_below == choice.fake_at_or_above == 0.5  # 1 error either way: lower
    fake_precision, real_precision = _precisions(labels, p, 0.5, 0.5)
    assert fake_precision >= 0.9 and real_precision >= 0.9


def test_unreachable_targets_fall_back_to_the_eer_threshold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    labels, p = [0, 1, 0, 1, 0, 1], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    with caplog.at_level(logging.WARNING, logger="deepfake_stream.metrics"):
        choice = select_thresholds(labels, p, 0.9, 0.9)
    assert choice.rule == "eer_fallback"
    assert (choice.real_below, choice.fake_at_or_above) == (0.4, 0.4)
    assert "EER" in caplog.text
    tied = select_thresholds([0, 1, 0, 1], [0.5] * 4, 0.9, 0.9)
    assert (tied.rule, tied.real_below, tied.fake_at_or_above) == ("eer_fallback", 0.5, 0.5)
    with pytest.raises(ValueError, match="both classes"):
        choose_thresholds([1, 1], [0.2, 0.9])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("targets", [(0.9, 0.9), (0.95, 0.8), (0.6, 0.99), (0.5, 0.5)])
def test_thresholds_are_ordered_and_meet_their_targets(
    seed: int, targets: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=300)
    p = 1.0 / (1.0 + np.exp(-(rng.normal(size=300) * 1.5 + 2.0 * (labels - 0.5))))
    p = np.round(p, 2)  # ties
    choice = select_thresholds(labels, p, *targets)
    assert choice.real_below <= choice.fake_at_or_above
    if choice.rule != "eer_fallback":
        fake_precision, real_precision = _precisions(
            labels, p, choice.real_below, choice.fake_at_or_above
        )
        assert fake_precision >= targets[0]
        assert real_precision >= targets[1]
