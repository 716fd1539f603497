"""Calibrating the "real" verdict on fakes from methods the model was not trained on.

Validation data says how often a model misses fakes like those it learnt from. It says
nothing about methods it never saw, which a DFDC-trained face model calls real, often more
confidently than real faces (weights/README.md). `deepfake-stream calibrate PATH` scores
PATH with the service's own Analyzer and lowers a real threshold to the highest cut that
leaves at most max_missed_fake_rate of PATH's fakes below it. It never raises a threshold and
never touches fake_at_or_above, so a calibration turns `real` verdicts into `uncertain` and
nothing else.

PATH is either a media folder (real/ and fake/; every file goes through the Analyzer as an
upload would), which calibrates `real_below`, the threshold of videos and streams; or a
face-crop folder (metadata.csv; stills, such as generated portraits), which calibrates
`photo_real_below`, the threshold of photos, never above `real_below`. Photos get their own:
one face with no frames to average, and generated faces come as photos.

Calibrating photos with --reals face-crop folders (real photos of sources kept out of
training) also raises `photo_fake_at_or_above` to the lowest cut that calls at most
max_false_fake_rate of those reals fake, never below the validation threshold: validation's
reals come from the training sources, and real photos from elsewhere score higher more often.
Only `fake` verdicts of photos become `uncertain`.

With write, the new threshold and a record of how it was chosen go into the manifest whose
thresholds the config uses: the fusion manifest when the config fuses branches, else the
face weights' manifest. The weights files are untouched, so every sha256 still holds.
Calibrate on data that is kept out of training (a cross-method set such as
../shared/media-beyond-dfdc), and judge the result on data that was not used here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..detection.weights import FakeCalibration, RealCalibration, write_manifest
from ..errors import ConfigError
from ..pipeline import Analyzer
from .data import METADATA_FILE, read_face_folder
from .evaluate import Progress, Scores, score_crops, score_media, select_crops
from .metrics import (
    DEFAULT_MAX_FALSE_FAKE_RATE,
    DEFAULT_MAX_MISSED_FAKE_RATE,
    fake_cut,
    real_cut,
)

# The rules the trade-off table compares (share of the calibration fakes left below the cut).
TRADEOFF_RATES = (0.02, 0.05, 0.10, 0.15, 0.20, 0.30)
TRADEOFF_FIXED = ("max_missed_fake_rate", "real_below", "fakes_below")
# The rules the photo fake threshold's trade-off compares (share of held-out reals called fake).
FAKE_TRADEOFF_RATES = (0.005, 0.01, 0.02, 0.05, 0.10)
# Results report probabilities to 4 decimals (pipeline), while verdicts use the exact value:
# the cut is lowered by half that step so that the fakes it comes from stay at or above it.
REPORTED_PROBABILITY_STEP = 1e-4


@dataclass(frozen=True)
class CalibrationOutcome:
    manifest: Path  # the manifest whose thresholds the config uses
    calibration: RealCalibration
    photo_fake: FakeCalibration | None  # the photo fake threshold, when held-out reals allowed
    photos: bool  # the photo threshold was calibrated (on face crops), not the video one
    written: bool


def thresholds_manifest(settings: Settings) -> Path:
    """The manifest whose thresholds the config's verdicts use."""
    if settings.verdict.real_below is not None:
        raise ConfigError(
            "verdict.real_below is set in the config and overrides every manifest: "
            "remove it to calibrate the manifest's threshold"
        )
    if settings.fusion.manifest is not None:
        return settings.fusion.manifest
    if settings.model.weights is None:
        raise ConfigError("an untrained model has no thresholds to calibrate")
    return settings.model.weights


def _with_a_face(scores: Scores, label: int) -> np.ndarray:
    return np.array(
        [
            p
            for name, lab, p in zip(scores.names, scores.labels, scores.probabilities, strict=True)
            if lab == label and name not in scores.no_face
        ]
    )


def _cut(fakes: np.ndarray, max_missed_fake_rate: float, ceiling: float) -> float:
    cut = max(0.0, real_cut(fakes, max_missed_fake_rate) - REPORTED_PROBABILITY_STEP / 2)
    return min(ceiling, cut)


def calibration_from_scores(
    scores: Scores,
    validation_real_below: float,
    max_missed_fake_rate: float,
    data: str,
    command: str,
    ceiling: float | None = None,
    held_out_reals: dict[str, Scores] | None = None,
) -> RealCalibration:
    """The real threshold these scores call for (files with a face only), as a record; never
    above the ceiling (default: the validation threshold). The reals of held_out_reals (by
    name) only enter the record: what share of them each rule would call real."""
    scored = [
        (label, family, probability)
        for name, label, family, probability in zip(
            scores.names, scores.labels, scores.families, scores.probabilities, strict=True
        )
        if name not in scores.no_face
    ]
    fakes = np.array([p for label, _, p in scored if label == 1])
    reals = np.array([p for label, _, p in scored if label == 0])
    if not fakes.size:
        raise ValueError(f"no fake with a face in {data}: nothing to calibrate on")
    ceiling = validation_real_below if ceiling is None else ceiling
    real_below = _cut(fakes, max_missed_fake_rate, ceiling)
    held_out = {name: _with_a_face(s, 0) for name, s in (held_out_reals or {}).items()}
    tradeoff = []
    for rate in sorted({*TRADEOFF_RATES, max_missed_fake_rate}):
        cut = _cut(fakes, rate, ceiling)
        row = {"max_missed_fake_rate": rate, "real_below": cut}
        row["fakes_below"] = round(float(np.mean(fakes < cut)), 4)
        row |= {name: round(float(np.mean(p < cut)), 4) for name, p in held_out.items() if p.size}
        tradeoff.append(row)
    families = Counter(family for label, family, _ in scored if label == 1)
    below = Counter(family for label, family, p in scored if label == 1 and p < real_below)
    return RealCalibration(
        validation_real_below=validation_real_below,
        real_below=real_below,
        max_missed_fake_rate=max_missed_fake_rate,
        data=data,
        fakes=int(fakes.size),
        reals=int(reals.size),
        fakes_below_by_family={
            family: round(below[family] / count, 4) for family, count in sorted(families.items())
        },
        reals_below=round(float(np.mean(reals < real_below)), 4) if reals.size else 0.0,
        held_out_reals_below={
            name: round(float(np.mean(p < real_below)), 4) for name, p in held_out.items() if p.size
        },
        tradeoff=tradeoff,
        command=command,
    )


def fake_calibration_from_scores(
    held_out_reals: dict[str, Scores],
    fakes: Scores,
    validation_fake_at_or_above: float,
    max_false_fake_rate: float,
    command: str,
) -> FakeCalibration:
    """The photo fake threshold these held-out real photos call for (faces only), as a record;
    never below the validation threshold."""
    reals = {name: _with_a_face(s, 0) for name, s in held_out_reals.items()}
    reals = {name: p for name, p in reals.items() if p.size}
    if not reals:
        raise ValueError("no held-out real photo with a face: no fake threshold to calibrate")
    pooled = np.concatenate(list(reals.values()))
    fake_scores = _with_a_face(fakes, 1)

    def cut_for(rate: float) -> float:
        return max(validation_fake_at_or_above, fake_cut(pooled, rate))

    def shares(cut: float) -> dict[str, float]:
        return {name: round(float(np.mean(p >= cut)), 4) for name, p in reals.items()}

    def detected(cut: float) -> float:
        return round(float(np.mean(fake_scores >= cut)), 4) if fake_scores.size else 0.0

    tradeoff = []
    for rate in sorted({*FAKE_TRADEOFF_RATES, max_false_fake_rate}):
        cut = cut_for(rate)
        tradeoff.append(
            {
                "max_false_fake_rate": rate,
                "fake_at_or_above": cut,
                "fakes_at_or_above": detected(cut),
            }
            | shares(cut)
        )
    chosen = cut_for(max_false_fake_rate)
    return FakeCalibration(
        validation_fake_at_or_above=validation_fake_at_or_above,
        fake_at_or_above=chosen,
        max_false_fake_rate=max_false_fake_rate,
        data=sorted(reals),
        reals=int(pooled.size),
        reals_at_or_above=shares(chosen),
        fakes_at_or_above=detected(chosen),
        tradeoff=tradeoff,
        real_tail=real_tail(pooled, max_false_fake_rate),
        command=command,
    )


def real_tail(reals: np.ndarray, max_false_fake_rate: float) -> list[float]:
    """The reals' highest probabilities, highest first: as many as the rule lets be fake, and
    one more (FakeCalibration.fake_at_or_above_for)."""
    keep = math.floor(max_false_fake_rate * reals.size + 1e-9) + 1
    return [float(p) for p in np.sort(reals)[::-1][:keep]]


def calibrate(
    settings: Settings,
    analyzer: Analyzer,
    path: Path,
    max_missed_fake_rate: float = DEFAULT_MAX_MISSED_FAKE_RATE,
    write: bool = False,
    command: str = "",
    progress: Progress | None = None,
    reals: Sequence[Path] = (),
    validation_of: Path | None = None,
    max_false_fake_rate: float = DEFAULT_MAX_FALSE_FAKE_RATE,
) -> CalibrationOutcome:
    """Score a media folder (the video threshold) or a face-crop folder (the photo threshold)
    with the analyzer (built from settings), choose the threshold, and with write store it in
    the manifest that supplies the config's thresholds (the one the analyzer loaded and
    checked)."""
    manifest_path = thresholds_manifest(settings)
    manifest = analyzer.thresholds_manifest
    if manifest is None:
        raise ConfigError("an untrained model has no thresholds to calibrate")
    thresholds = manifest.thresholds
    previous = manifest.calibration or manifest.photo_calibration
    # Recalibrating starts again from the validation threshold, not from the last calibration.
    validation_real_below = (
        previous.validation_real_below if previous is not None else thresholds.real_below
    )
    photos = (path / METADATA_FILE).is_file()
    if photos:
        records = select_crops(read_face_folder(path), validation_of, None)
        scores = score_crops(path, analyzer, progress, records)
        # A photo is never called real where a video with its score would not be.
        ceiling = thresholds.real_below
    else:
        scores = score_media(path, analyzer, progress)
        ceiling = validation_real_below
    held_out = {folder.name: _real_scores(folder, analyzer) for folder in reals}
    calibration = calibration_from_scores(
        scores, validation_real_below, max_missed_fake_rate, path.name, command, ceiling, held_out
    )
    # Real photos kept out of training: where the photo fake threshold is calibrated.
    real_photos = {
        folder.name: held_out[folder.name] for folder in reals if (folder / METADATA_FILE).is_file()
    }
    photo_fake = None
    if photos and real_photos:
        previous_fake = manifest.photo_fake_calibration
        photo_fake = fake_calibration_from_scores(
            real_photos,
            scores,
            previous_fake.validation_fake_at_or_above
            if previous_fake is not None
            else thresholds.fake_at_or_above,
            max_false_fake_rate,
            command,
        )
    if write:
        threshold, record = (
            ("photo_real_below", "photo_calibration") if photos else ("real_below", "calibration")
        )
        new_thresholds: dict[str, float] = {threshold: calibration.real_below}
        update: dict[str, object] = {record: calibration}
        if photo_fake is not None:
            new_thresholds["photo_fake_at_or_above"] = photo_fake.fake_at_or_above
            update["photo_fake_calibration"] = photo_fake
        updated = manifest.model_copy(
            update={"thresholds": thresholds.model_copy(update=new_thresholds), **update}
        )
        write_manifest(manifest_path, updated)
    return CalibrationOutcome(manifest_path, calibration, photo_fake, photos, write)


def _real_scores(folder: Path, analyzer: Analyzer) -> Scores:
    """The reals of a face-crop folder (as photos) or of a media folder (as uploads)."""
    if (folder / METADATA_FILE).is_file():
        records = [r for r in read_face_folder(folder) if r.label == 0]
        return score_crops(folder, analyzer, records=records)
    return score_media(folder, analyzer)


def summary_lines(outcome: CalibrationOutcome) -> list[str]:
    record = outcome.calibration
    by_family = record.fakes_below_by_family.items()
    name = "photo_real_below" if outcome.photos else "real_below"
    lines = [
        f"{name} {record.validation_real_below:.4f} (validation) -> {record.real_below:.4f}"
        f" (at most {record.max_missed_fake_rate:.0%} of the {record.fakes} fakes of "
        f"{record.data} below it)",
        "fakes below it, by family: "
        + ", ".join(f"{family} {share:.0%}" for family, share in by_family),
        f"reals below it (verdict real): {record.reals_below:.0%} of {record.reals}",
    ]
    lines += [
        f"held-out reals below it (verdict real): {name} {share:.0%}"
        for name, share in record.held_out_reals_below.items()
    ]
    if record.tradeoff:
        sets = [key for key in record.tradeoff[0] if key not in TRADEOFF_FIXED]
        header = ["fakes allowed below", "real below", "fakes below", *(f"{n} real" for n in sets)]
        rows = [
            [
                f"{row['max_missed_fake_rate']:.0%}",
                f"{row['real_below']:.3g}",
                f"{row['fakes_below']:.1%}",
                *(f"{row.get(name, 0.0):.1%}" for name in sets),
            ]
            for row in record.tradeoff
        ]
        lines += ["", *markdown_table(header, rows), ""]
    lines += fake_summary_lines(outcome.photo_fake) if outcome.photo_fake is not None else []
    lines.append(
        f"written to {outcome.manifest}"
        if outcome.written
        else f"not written (add --write to store it in {outcome.manifest})"
    )
    return lines


def fake_summary_lines(record: FakeCalibration) -> list[str]:
    sets = record.data
    lines = [
        f"photo_fake_at_or_above {record.validation_fake_at_or_above:.4f} (validation) -> "
        f"{record.fake_at_or_above:.4f} (at most {record.max_false_fake_rate:.1%} of the "
        f"{record.reals} held-out real photos at or above it)",
        "held-out real photos at or above it (verdict fake): "
        + ", ".join(f"{name} {share:.1%}" for name, share in record.reals_at_or_above.items()),
        f"fakes at or above it (detected): {record.fakes_at_or_above:.1%}",
        "",
    ]
    header = [
        "reals allowed fake",
        "fake at or above",
        "fakes detected",
        *(f"{n} fake" for n in sets),
    ]
    rows = [
        [
            f"{row['max_false_fake_rate']:.1%}",
            f"{row['fake_at_or_above']:.3g}",
            f"{row['fakes_at_or_above']:.1%}",
            *(f"{row.get(name, 0.0):.1%}" for name in sets),
        ]
        for row in record.tradeoff
    ]
    return [*lines, *markdown_table(header, rows), ""]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
