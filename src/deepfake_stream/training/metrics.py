"""Evaluation metrics, temperature calibration and verdict-threshold selection.

Labels are 1 = fake, 0 = real; a score or probability is "how fake". A sample is predicted
fake when its probability is at or above the threshold (as in `aggregate.verdict_for`).
The standard metrics are scikit-learn's; the temperature fit and the threshold choice, which
it lacks, are here. Evaluation sets are small enough to hold in memory.

Quantities that need both classes (AUC, EER) raise ValueError when called directly on one
class; `classification_report` catches that case and reports them as None instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn import metrics as sk_metrics

log = logging.getLogger(__name__)

# Probabilities are clipped to [eps, 1 - eps] in the log loss so that one confident mistake
# costs a large but finite amount (about 16 nats) instead of infinity.
LOG_LOSS_EPS = 1e-7
# Temperature search range: beyond 100x softening or sharpening the model is not calibrated,
# it is broken; a fit that lands on a bound says so.
TEMPERATURE_MIN = 1e-2
TEMPERATURE_MAX = 1e2
# Golden-section search stops when the bracket on log T is this narrow (T known to ~1e-9).
TEMPERATURE_LOG_TOLERANCE = 1e-9
# Default verdict thresholds on validation: at most 2% of real faces at or above "fake" (the
# costly error for a service), at most 10% of fakes below "real"; in between is "uncertain".
DEFAULT_MAX_FALSE_FAKE_RATE = 0.02
DEFAULT_MAX_MISSED_FAKE_RATE = 0.10

_INV_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 1/phi, the golden-section shrink factor

FloatArray = NDArray[np.float64]


def _as_labels_and_scores(labels: ArrayLike, scores: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validated 1-D float arrays: same non-zero length, labels in {0, 1}, finite scores."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise ValueError("metrics need at least one sample; got empty input")
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite numbers")
    return y, s


def _as_probabilities(labels: ArrayLike, probabilities: ArrayLike) -> tuple[FloatArray, FloatArray]:
    y, p = _as_labels_and_scores(labels, probabilities)
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("probabilities must lie in [0, 1]")
    return y, p


def _require_both_classes(y: FloatArray, what: str) -> None:
    fakes = int(y.sum())
    if fakes == 0 or fakes == y.size:
        raise ValueError(f"{what} needs both classes; got only {'fake' if fakes else 'real'}")


def _counts_by_value(y: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distinct scores ascending, with how many fakes and how many reals have each score."""
    values, inverse = np.unique(s, return_inverse=True)
    fakes = np.bincount(inverse, weights=y, minlength=values.size).astype(np.float64)
    reals = np.bincount(inverse, weights=1.0 - y, minlength=values.size).astype(np.float64)
    return values, fakes, reals


def roc_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ROC points (fpr, tpr, thresholds), thresholds strictly decreasing (scikit-learn's, with
    every distinct score kept).

    Point i predicts fake for score >= thresholds[i]. Tied scores move together, so a tie
    between a fake and a real is one diagonal step. The first point is (0, 0) at +inf; the
    last is (1, 1) at the lowest score.
    """
    y, s = _as_labels_and_scores(labels, scores)
    _require_both_classes(y, "ROC curve")
    fpr, tpr, thresholds = sk_metrics.roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thresholds.astype(np.float64)


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: P(fake scores above real), ties count 1/2."""
    y, s = _as_labels_and_scores(labels, scores)
    _require_both_classes(y, "ROC curve")
    return float(sk_metrics.roc_auc_score(y, s))


def log_loss(labels: ArrayLike, probabilities: ArrayLike, eps: float = LOG_LOSS_EPS) -> float:
    """Mean binary cross-entropy in nats, probabilities clipped to [eps, 1 - eps]."""
    y, p = _as_probabilities(labels, probabilities)
    return float(sk_metrics.log_loss(y, np.clip(p, eps, 1.0 - eps), labels=[0.0, 1.0]))


def equal_error_rate(labels: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """(EER, threshold) where the false-positive rate equals the false-negative rate.

    Walking down the ROC thresholds, FNR - FPR falls from 1 to -1. At the first point where it
    is <= 0 the crossing is interpolated linearly from the previous point, on the rates and on
    the threshold. When the previous point is the +inf sentinel, the threshold is the highest
    score.
    """
    y, s = _as_labels_and_scores(labels, scores)
    fpr, tpr, thresholds = roc_curve(y, s)
    positives, negatives = float(y.sum()), float(y.size - y.sum())
    # Back to whole counts: FNR - FPR scaled by positives * negatives is then an exact integer,
    # so a crossing is found exactly.
    tp, fp = np.rint(tpr * positives), np.rint(fpr * negatives)
    gap = (positives - tp) * negatives - fp * positives
    i = int(np.argmax(gap <= 0.0))  # exists: the last point has FNR 0 < FPR 1
    if gap[i] == 0.0:
        return float(fpr[i]), float(thresholds[i])
    share = gap[i - 1] / (gap[i - 1] - gap[i])
    eer = fpr[i - 1] + share * (fpr[i] - fpr[i - 1])
    if i == 1:
        return float(eer), float(thresholds[1])
    threshold = thresholds[i - 1] + share * (thresholds[i] - thresholds[i - 1])
    return float(eer), float(threshold)


def confusion(labels: ArrayLike, predictions: ArrayLike) -> dict[str, int]:
    """Counts of true negatives, false positives, false negatives, true positives (fake = 1)."""
    y, predicted = _as_labels_and_scores(labels, predictions)
    if not np.all((predicted == 0.0) | (predicted == 1.0)):
        raise ValueError("predictions must be 0 (real) or 1 (fake)")
    tn, fp, fn, tp = sk_metrics.confusion_matrix(y, predicted, labels=[0.0, 1.0]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class Report:
    n: int  # samples evaluated
    auc: float | None  # ROC AUC; None when only one class is present
    log_loss: float  # mean binary cross-entropy, nats
    accuracy: float  # share predicted correctly at `threshold`
    f1: float | None  # 2tp / (2tp + fp + fn); None when there is no fake, predicted or true
    precision: float | None  # tp / (tp + fp); None when nothing is predicted fake
    recall: float | None  # tp / (tp + fn); None when there is no fake
    eer: float | None  # equal error rate; None when only one class is present
    threshold: float  # predicted fake at probability >= this
    confusion: dict[str, int]  # tn, fp, fn, tp at `threshold`

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (undefined metrics are null)."""
        return asdict(self)


def classification_report(labels: ArrayLike, probabilities: ArrayLike, threshold: float) -> Report:
    """Every metric of one evaluation at one threshold (predicted fake at p >= threshold).

    Works on a single class (AUC and EER are None) and raises ValueError on empty input.
    """
    y, p = _as_probabilities(labels, probabilities)
    counts = confusion(y, (p >= threshold).astype(np.float64))
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    both_classes = 0 < tp + fn < y.size
    return Report(
        n=int(y.size),
        auc=roc_auc(y, p) if both_classes else None,
        log_loss=log_loss(y, p),
        accuracy=(tp + tn) / y.size,
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        eer=equal_error_rate(y, p)[0] if both_classes else None,
        threshold=float(threshold),
        confusion=counts,
    )


def breakdown(
    labels: ArrayLike,
    probabilities: ArrayLike,
    groups: Sequence[Hashable],
    threshold: float,
) -> dict[str, Report]:
    """One report per group (e.g. source folder), keyed by str(group), sorted by key."""
    y, p = _as_probabilities(labels, probabilities)
    if len(groups) != y.size:
        raise ValueError(f"groups and labels differ in length: {len(groups)} vs {y.size}")
    names = np.array([str(g) for g in groups])
    return {
        name: classification_report(y[names == name], p[names == name], threshold)
        for name in sorted(set(names.tolist()))
    }


def temperature_nll(logits: ArrayLike, labels: ArrayLike, temperature: float) -> float:
    """Mean negative log-likelihood of the labels under sigmoid(logits / temperature)."""
    y, z = _as_labels_and_scores(labels, logits)
    if not temperature > 0.0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return _nll(z / temperature, y)


def _nll(scaled: FloatArray, y: FloatArray) -> float:
    # -log sigmoid(x) for fakes and -log(1 - sigmoid(x)) for reals, both as softplus - y x.
    return float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))


def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float:
    """The T in [TEMPERATURE_MIN, TEMPERATURE_MAX] minimising NLL of sigmoid(logits / T).

    The NLL is convex in 1/T (a logistic loss of (1/T) * logit), hence unimodal in log T, so
    a golden-section search on log T finds the minimum deterministically. Separable data (NLL
    falls all the way to T -> 0) gives TEMPERATURE_MIN; all-zero logits (NLL flat) give 1.
    """
    y, z = _as_labels_and_scores(labels, logits)
    if not np.any(z):
        return 1.0

    def loss(log_t: float) -> float:
        return _nll(z / math.exp(log_t), y)

    low, high = math.log(TEMPERATURE_MIN), math.log(TEMPERATURE_MAX)
    a, b = high - _INV_GOLDEN * (high - low), low + _INV_GOLDEN * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    while high - low > TEMPERATURE_LOG_TOLERANCE:
        if loss_a <= loss_b:  # minimum in [low, b]
            high, b, loss_b = b, a, loss_a
            a = high - _INV_GOLDEN * (high - low)
            loss_a = loss(a)
        else:  # minimum in [a, high]
            low, a, loss_a = a, b, loss_b
            b = low + _INV_GOLDEN * (high - low)
            loss_b = loss(b)
    # The bracket may have closed on a bound that the interior points never touched.
    candidates = [(low + high) / 2.0, math.log(TEMPERATURE_MIN), math.log(TEMPERATURE_MAX)]
    return math.exp(min(candidates, key=loss))


def apply_temperature(logits: ArrayLike, temperature: float) -> FloatArray:
    """Calibrated probabilities sigmoid(logits / temperature)."""
    if not temperature > 0.0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    return np.exp(-np.logaddexp(0.0, -z))


@dataclass(frozen=True)
class ThresholdChoice:
    real_below: float  # verdict "real" for probability < this
    fake_at_or_above: float  # verdict "fake" for probability >= this
    # "band": both error rates met with an uncertain band in between; "single_cut": the two
    # regions overlapped, so the fake cut alone divides real from fake.
    rule: Literal["band", "single_cut"]


def select_thresholds(
    labels: ArrayLike,
    probabilities: ArrayLike,
    max_false_fake_rate: float = DEFAULT_MAX_FALSE_FAKE_RATE,
    max_missed_fake_rate: float = DEFAULT_MAX_MISSED_FAKE_RATE,
) -> ThresholdChoice:
    """Choose the verdict thresholds (real below t1, fake at or above t2) on validation data.

    Error rates, not precisions: they do not depend on the share of fakes in the validation
    data, which says nothing about the share a service will meet.

    1. t2 = the lowest distinct probability v such that at most max_false_fake_rate of the
       reals have p >= v (or just above the highest probability: nothing is fake).
    2. t1 = the highest cut c (a distinct probability, or just above the highest) such that at
       most max_missed_fake_rate of the fakes have p < c.
    3. If t1 <= t2, samples in [t1, t2) are "uncertain". Otherwise the regions overlap and both
       become t2: calling a real face fake is the error the service must avoid.

    Needs both classes; raises ValueError otherwise.
    """
    for rate in (max_false_fake_rate, max_missed_fake_rate):
        if not 0.0 <= rate < 1.0:
            raise ValueError("error rates must be in [0, 1)")
    y, p = _as_probabilities(labels, probabilities)
    _require_both_classes(y, "threshold selection")
    values, _, reals = _counts_by_value(y, p)
    cuts = np.append(values, np.nextafter(values[-1], np.inf))
    # Reals at or above each cut.
    reals_at_or_above = np.append(np.cumsum(reals[::-1])[::-1], 0.0)
    false_fake_rate = reals_at_or_above / reals.sum()
    t2 = float(cuts[np.flatnonzero(false_fake_rate <= max_false_fake_rate)[0]])
    t1 = real_cut(p[y == 1], max_missed_fake_rate)
    if t1 <= t2:
        return ThresholdChoice(t1, t2, "band")
    return ThresholdChoice(t2, t2, "single_cut")


def real_cut(fake_probabilities: ArrayLike, max_missed_fake_rate: float) -> float:
    """The highest cut c such that at most max_missed_fake_rate of these fakes have p < c:
    the "real" threshold that misses no more of them than that. It is one of their
    probabilities (the rate is below 1, so some fake must stay at or above the cut)."""
    if not 0.0 <= max_missed_fake_rate < 1.0:
        raise ValueError("error rates must be in [0, 1)")
    fakes = np.sort(np.asarray(fake_probabilities, dtype=np.float64).ravel())
    if fakes.size == 0:
        raise ValueError("a real threshold needs at least one fake")
    # Missed with the cut at fakes[k]: the k fakes below it (fewer, if fakes[k] is tied).
    missed_rate = np.arange(fakes.size) / fakes.size
    return float(fakes[np.flatnonzero(missed_rate <= max_missed_fake_rate)[-1]])


def fake_cut(real_probabilities: ArrayLike, max_false_fake_rate: float) -> float:
    """The lowest cut c such that at most max_false_fake_rate of these reals have p >= c: the
    "fake" threshold that calls no more of them fake than that. One of their probabilities,
    or just above the highest (then none is fake)."""
    if not 0.0 <= max_false_fake_rate < 1.0:
        raise ValueError("error rates must be in [0, 1)")
    values = np.unique(np.asarray(real_probabilities, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("a fake threshold needs at least one real")
    reals = np.sort(np.asarray(real_probabilities, dtype=np.float64).ravel())
    cuts = np.append(values, np.nextafter(values[-1], np.inf))
    at_or_above = reals.size - np.searchsorted(reals, cuts, side="left")
    return float(cuts[np.flatnonzero(at_or_above / reals.size <= max_false_fake_rate)[0]])


def choose_thresholds(
    labels: ArrayLike,
    probabilities: ArrayLike,
    max_false_fake_rate: float = DEFAULT_MAX_FALSE_FAKE_RATE,
    max_missed_fake_rate: float = DEFAULT_MAX_MISSED_FAKE_RATE,
) -> tuple[float, float]:
    """(real_below, fake_at_or_above) by the rule of `select_thresholds`, which see."""
    choice = select_thresholds(labels, probabilities, max_false_fake_rate, max_missed_fake_rate)
    return choice.real_below, choice.fake_at_or_above


@dataclass(frozen=True)
class FamilyReport:
    """One fake family against all the reals of the same evaluation."""

    fakes: int  # samples of this family
    reals: int  # real samples it is ranked against
    auc: float  # P(a fake of this family scores above a real)
    detected: float  # share of this family's fakes at or above the threshold

    def as_metrics(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def family_reports(
    labels: ArrayLike,
    probabilities: ArrayLike,
    families: Sequence[str],
    threshold: float = 0.5,
    real_family: str = "real",
) -> dict[str, FamilyReport]:
    """Per fake family, its AUC against every real sample and the share it detects at the
    threshold, sorted by family. Families without a real sample to rank against are left out."""
    y, p = _as_probabilities(labels, probabilities)
    if len(families) != y.size:
        raise ValueError(f"families and labels differ in length: {len(families)} vs {y.size}")
    names = np.array([str(f) for f in families])
    reals = (y == 0.0) & (names == real_family)
    reports = {}
    for family in sorted(set(names[y == 1.0].tolist())):
        fakes = (y == 1.0) & (names == family)
        if not reals.any():
            continue
        chosen = fakes | reals
        reports[family] = FamilyReport(
            fakes=int(fakes.sum()),
            reals=int(reals.sum()),
            auc=roc_auc(y[chosen], p[chosen]),
            detected=float(np.mean(p[fakes] >= threshold)),
        )
    return reports
