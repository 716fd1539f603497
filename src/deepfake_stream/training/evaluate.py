"""Evaluation: `deepfake-stream eval PATH` on face crops or on media.

PATH is either a face-crop folder in the metadata.csv layout (crops go straight to the
classifier) or a folder of images and videos under `real/` and `fake/` subfolders (each file
goes through the service's own Analyzer, exactly as an upload would). Files where no face is
found are listed and enter the metrics at probability 0.5, so dropping them never flatters a
number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bench import media_files
from ..detection.crop import read_dataset_crop
from ..errors import DeepfakeStreamError
from ..pipeline import Analyzer
from .data import METADATA_FILE, REAL_FAMILY, FaceRecord, read_face_folder
from .metrics import breakdown, classification_report, family_reports, roc_auc, roc_curve
from .recipe import grouped_split, load_train_settings

NO_FACE_PROBABILITY = 0.5  # what a file without a face counts as: a coin toss, not a drop
CROP_BATCH = 64  # crops read and classified at a time
LABEL_FOLDERS = {"real": 0, "fake": 1}

Progress = Callable[[int, int], None]


@dataclass
class Scores:
    names: list[str] = field(default_factory=list)  # file, relative to the evaluated folder
    labels: list[int] = field(default_factory=list)  # 1 fake, 0 real
    probabilities: list[float] = field(default_factory=list)  # calibrated fake probability
    sources: list[str] = field(default_factory=list)  # source folder, for the breakdown
    families: list[str] = field(default_factory=list)  # "real", or the fake's family
    # Each branch's own probability of each file, for the per-branch tables.
    branches: dict[str, list[float]] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)  # the service's verdict for each
    no_face: list[str] = field(default_factory=list)  # files scored NO_FACE_PROBABILITY
    errors: dict[str, str] = field(default_factory=dict)  # files that could not be analysed


def family_from_name(name: str, label: int) -> str:
    """A media file's family: "real" for reals; for fakes, its name's prefix up to the first
    underscore (dflive_swap_x.mp4 -> dflive, vasa1_5.mp4 -> vasa1), or "fake" without one."""
    if label == 0:
        return REAL_FAMILY
    stem = Path(name).stem
    return stem.split("_", 1)[0].lower() if "_" in stem else "fake"


def _add_branches(scores: Scores, branches: Mapping[str, float | None]) -> None:
    for branch, probability in branches.items():
        value = NO_FACE_PROBABILITY if probability is None else probability
        scores.branches.setdefault(branch, []).append(value)


def label_from_path(relative: Path) -> int | None:
    """1 under a `fake` folder, 0 under a `real` one (the nearest wins), None otherwise."""
    for part in reversed(relative.parts[:-1]):
        if part.lower() in LABEL_FOLDERS:
            return LABEL_FOLDERS[part.lower()]
    return None


def select_crops(
    records: list[FaceRecord], validation_of: Path | None, sample: int | None, seed: int = 0
) -> list[FaceRecord]:
    """The validation split of a training config (groups it never trained on), then at most
    `sample` of those drawn at random."""
    if validation_of is not None:
        records = grouped_split(records, load_train_settings(validation_of))[1]
    if sample is not None and sample < len(records):
        chosen = np.random.default_rng(seed).choice(len(records), sample, replace=False)
        records = [records[i] for i in sorted(chosen)]
    return records


def service_crops(records: Sequence[FaceRecord], analyzer: Analyzer) -> np.ndarray:
    """Dataset crops as the service would have cut them: detail limit and JPEG encode included."""
    crop = analyzer.model.crop
    return np.stack([read_dataset_crop(r.path, r.native_side, crop) for r in records])


def score_crops(
    root: Path,
    analyzer: Analyzer,
    progress: Progress | None = None,
    records: list[FaceRecord] | None = None,
) -> Scores:
    """Classify the crops of a metadata.csv folder (all, or the given records) as the service
    would have cut them."""
    records = read_face_folder(root) if records is None else records
    model = analyzer.model
    scores = Scores()
    for start in range(0, len(records), CROP_BATCH):
        chunk = records[start : start + CROP_BATCH]
        scored = analyzer.score_crops(service_crops(chunk, analyzer))
        per_branch = scored.per_branch
        for index, (record, probability) in enumerate(zip(chunk, scored.fused, strict=True)):
            scores.names.append(str(record.path.relative_to(root)))
            scores.labels.append(record.label)
            scores.probabilities.append(float(probability))
            scores.sources.append(record.source)
            scores.families.append(record.family)
            _add_branches(
                scores, {branch.value: float(p[index]) for branch, p in per_branch.items()}
            )
            # What the service would say of a photo of this one face.
            verdict = model.policy.person(float(probability), photo=True)
            scores.verdicts.append(verdict.value)
        if progress is not None:
            progress(min(start + CROP_BATCH, len(records)), len(records))
    return scores


def score_media(root: Path, analyzer: Analyzer, progress: Progress | None = None) -> Scores:
    """Run every image and video under real/ and fake/ through the Analyzer."""
    files = [(path, label_from_path(path.relative_to(root))) for path in media_files(root)]
    labelled = [(path, label) for path, label in files if label is not None]
    if not labelled:
        raise ValueError(f"no media under a real/ or fake/ folder in {root}")
    scores = Scores()
    for done, (path, label) in enumerate(labelled, start=1):
        name = str(path.relative_to(root))
        try:
            result = analyzer.analyze(path)
        except DeepfakeStreamError as exc:
            scores.errors[name] = f"{exc.code}: {exc.message}"
            continue
        probability = result.probability
        if probability is None:
            scores.no_face.append(name)
            probability = NO_FACE_PROBABILITY
        scores.names.append(name)
        scores.labels.append(label)
        scores.probabilities.append(probability)
        scores.sources.append(str(path.parent.relative_to(root)))
        scores.families.append(family_from_name(name, label))
        _add_branches(scores, result.branches)
        scores.verdicts.append(result.verdict.value)
        if progress is not None:
            progress(done, len(labelled))
    return scores


def report(scores: Scores, threshold: float) -> dict[str, Any]:
    """Metrics at the shipped threshold, the breakdown by source, and what was left out."""
    if not scores.labels:
        raise ValueError("nothing was scored")
    summary = classification_report(scores.labels, scores.probabilities, threshold).as_dict()
    summary["no_face"] = len(scores.no_face)
    summary["no_face_files"] = scores.no_face
    summary["errors"] = scores.errors
    summary["by_source"] = {
        source: part.as_dict()
        for source, part in breakdown(
            scores.labels, scores.probabilities, scores.sources, threshold
        ).items()
    }
    # Each fake family against all the reals: the fusion, then every branch alone.
    summary["by_family"] = {
        family: part.as_metrics()
        for family, part in family_reports(
            scores.labels, scores.probabilities, scores.families, threshold
        ).items()
    }
    summary["branches"] = {
        branch: {
            "auc": roc_auc(scores.labels, values) if len(set(scores.labels)) == 2 else None,
            "by_family": {
                family: part.as_metrics()
                for family, part in family_reports(
                    scores.labels, values, scores.families, threshold
                ).items()
            },
        }
        for branch, values in scores.branches.items()
    }
    # Verdicts by true class: e.g. how many real files the service would have called fake.
    summary["verdicts"] = {
        name: dict(
            Counter(v for v, y in zip(scores.verdicts, scores.labels, strict=True) if y == value)
        )
        for name, value in LABEL_FOLDERS.items()
    }
    summary["files"] = [
        {
            "file": name,
            "label": label,
            "family": family,
            "probability": round(probability, 6),
            "branches": {
                branch: round(values[index], 6) for branch, values in scores.branches.items()
            },
            "verdict": verdict,
        }
        for index, (name, label, family, probability, verdict) in enumerate(
            zip(
                scores.names,
                scores.labels,
                scores.families,
                scores.probabilities,
                scores.verdicts,
                strict=True,
            )
        )
    ]
    return summary


def write_plots(scores: Scores, folder: Path) -> list[Path]:
    """roc.png and histogram.png (scores by class)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers and CI
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(scores.labels)
    probabilities = np.asarray(scores.probabilities)
    written = []
    figure, axes = plt.subplots(figsize=(5, 5))
    if len(set(scores.labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, probabilities)
        axes.plot(fpr, tpr, label="ROC")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    axes.legend(loc="lower right")
    written.append(folder / "roc.png")
    figure.savefig(written[-1], dpi=100, bbox_inches="tight")
    plt.close(figure)
    figure, axes = plt.subplots(figsize=(6, 4))
    bins = [i / 40 for i in range(41)]
    for value, name in ((0, "real"), (1, "fake")):
        axes.hist(probabilities[labels == value], bins=bins, alpha=0.6, label=name)
    axes.set(xlabel="fake probability", ylabel="count", title="Scores by class")
    axes.legend()
    written.append(folder / "histogram.png")
    figure.savefig(written[-1], dpi=100, bbox_inches="tight")
    plt.close(figure)
    return written


def evaluate(
    path: Path,
    analyzer: Analyzer,
    output: Path,
    progress: Progress | None = None,
    validation_of: Path | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """Score PATH (crops or media), write report.json and the plots to output. For crops,
    validation_of and sample narrow the records (see select_crops)."""
    is_crops = (path / METADATA_FILE).is_file()
    if is_crops:
        records = select_crops(read_face_folder(path), validation_of, sample)
        scores = score_crops(path, analyzer, progress, records)
    elif validation_of is not None or sample is not None:
        raise ValueError("--validation-of and --sample apply to crop folders (metadata.csv)")
    else:
        scores = score_media(path, analyzer, progress)
    summary = {
        "kind": "crops" if is_crops else "media",
        **report(scores, analyzer.model.policy.fake_at_or_above),
    }
    summary["plots"] = [str(p) for p in write_plots(scores, output)]
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def summary_lines(summary: dict[str, Any]) -> Sequence[str]:
    """A short readable summary for the terminal."""

    def number(value: object) -> str:
        return (
            "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
        )

    keys = ("n", "auc", "log_loss", "accuracy", "f1", "precision", "recall", "eer", "threshold")
    lines = ["  ".join(f"{key} {number(summary[key])}" for key in keys)]
    lines.append(f"confusion {summary['confusion']}  no_face {summary['no_face']}")
    lines.append(f"verdicts by class {summary['verdicts']}")
    for source, part in summary["by_source"].items():
        auc, accuracy = number(part["auc"]), number(part["accuracy"])
        lines.append(f"  {source:24} n {part['n']:5}  auc {auc}  accuracy {accuracy}")
    branches = list(summary["branches"])
    if summary["by_family"]:
        lines.append(
            "AUC by family (against every real): "
            + "  ".join(["fused", *branches])
            + "  | detected at the fake threshold"
        )
    for family, part in summary["by_family"].items():
        per_branch = [
            number(summary["branches"][b]["by_family"].get(family, {}).get("auc")) for b in branches
        ]
        lines.append(
            f"  {family:14} n {int(part['fakes']):5}  {number(part['auc'])}  "
            + "  ".join(per_branch)
            + f"  | {number(part['detected'])}"
        )
    if summary["by_family"]:
        worst = min(summary["by_family"].items(), key=lambda item: item[1]["auc"])
        lines.append(f"worst family: {worst[0]} (auc {worst[1]['auc']:.4f})")
    return lines
