from __future__ import annotations

import json
import math

import numpy as np
import pytest

from deepfake_stream.training.metrics import (
    TEMPERATURE_MIN,
    apply_temperature,
    breakdown,
    choose_thresholds,
    classification_report,
    confusion,
    equal_error_rate,
    fake_cut,
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


def _error_rates(labels: np.ndarray, p: np.ndarray, t1: float, t2: float) -> tuple[float, float]:
    """(share of reals at or above t2, share of fakes below t1)."""
    return float((p[labels == 0] >= t2).mean()), float((p[labels == 1] < t1).mean())


def test_thresholds_leave_an_uncertain_band() -> None:
    # 100 reals: 90 at 0.1, 8 at 0.7, 2 at 0.8; 100 fakes: 5 at 0.1, 5 at 0.3, 10 at 0.6,
    # 80 at 0.9.
    labels = np.array([0] * 100 + [1] * 100)
    p = np.array(
        [0.1] * 90 + [0.7] * 8 + [0.8] * 2 + [0.1] * 5 + [0.3] * 5 + [0.6] * 10 + [0.9] * 80
    )
    choice = select_thresholds(labels, p, max_false_fake_rate=0.02, max_missed_fake_rate=0.10)
    # Fake from 0.8 (2 reals = 2%); real below 0.6 (10 fakes below = 10%).
    assert (choice.real_below, choice.fake_at_or_above, choice.rule) == (0.6, 0.8, "band")
    assert choose_thresholds(labels, p, 0.02, 0.10) == (0.6, 0.8)
    # A stricter false-fake rate moves the fake cut up, to 0.9.
    assert select_thresholds(labels, p, 0.0, 0.10).fake_at_or_above == 0.9


def test_no_real_may_be_called_fake_even_if_nothing_is() -> None:
    labels, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.5, 0.9, 0.6])
    choice = select_thresholds(labels, p, 0.0, 0.5)
    assert choice.fake_at_or_above > 0.9  # just above the highest: nothing is "fake"


def test_overlapping_regions_become_the_fake_cut() -> None:
    labels = np.array([0] * 10 + [1] * 10)
    p = np.array([0.1] * 9 + [0.6] + [0.5] * 2 + [0.9] * 8)
    # Alone: fake from 0.5 (1 real = 10%), real below 0.9 (2 fakes = 20%): overlapping.
    choice = select_thresholds(labels, p, 0.10, 0.20)
    assert choice.rule == "single_cut"
    assert choice.real_below == choice.fake_at_or_above == 0.5


def test_threshold_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="both classes"):
        choose_thresholds([1, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="error rates"):
        choose_thresholds([0, 1], [0.2, 0.9], 1.0, 0.1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rates", [(0.02, 0.1), (0.1, 0.02), (0.3, 0.3), (0.0, 0.0)])
def test_thresholds_are_ordered_and_meet_their_error_rates(
    seed: int, rates: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=300)
    p = 1.0 / (1.0 + np.exp(-(rng.normal(size=300) * 1.5 + 2.0 * (labels - 0.5))))
    p = np.round(p, 2)  # ties
    choice = select_thresholds(labels, p, *rates)
    assert choice.real_below <= choice.fake_at_or_above
    false_fake, missed_fake = _error_rates(labels, p, choice.real_below, choice.fake_at_or_above)
    assert false_fake <= rates[0]
    if choice.rule == "band":
        assert missed_fake <= rates[1]
    # The fake cut is the lowest that meets its rate: one step lower would break it.
    lower = p[p < choice.fake_at_or_above]
    if lower.size:
        assert (p[labels == 0] >= lower.max()).mean() > rates[0]


def test_the_fake_cut_calls_at_most_the_allowed_share_of_reals_fake() -> None:
    reals = [0.1, 0.2, 0.2, 0.5, 0.9]
    # 0% allowed: just above the highest real, so none is fake.
    assert fake_cut(reals, 0.0) == pytest.approx(0.9) and fake_cut(reals, 0.0) > 0.9
    assert fake_cut(reals, 0.2) == 0.9  # one of five may be fake: the highest
    assert fake_cut(reals, 0.39) == 0.9 and fake_cut(reals, 0.4) == 0.5
    assert fake_cut(reals, 0.79) == 0.5  # the two reals at 0.2 are fake together, or neither
    assert fake_cut(reals, 0.8) == 0.2
    assert fake_cut(reals, 0.99) == 0.2  # every real fake is never allowed below 100%
    with pytest.raises(ValueError, match="at least one real"):
        fake_cut([], 0.1)
    with pytest.raises(ValueError, match="error rates"):
        fake_cut(reals, 1.0)
