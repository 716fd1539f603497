"""The shortcut audit: has the face branch learnt manipulations, or the sources they came in?

Crops of several folders (real sources and fake families, each capped, held-out groups only
for folders a training config used) go through the face branch as the service would cut
them. The audit reports:

- the AUC of every real source against every fake family: a family detected well against one
  source and badly against another is detected by what the sources differ in;
- per real source, the share of its faces a photo of them would get as `fake` and as `real`;
- a source probe: a logistic regression on the branch's embedding, cross-validated, asked to
  tell the real sources apart (balanced accuracy, chance 1/k) and the AUC of each pair. Where
  the sources are easy to tell apart, a fake family made from one source can be detected by
  its source; the per-source AUCs then say whether that happened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..pipeline import Analyzer
from .data import REAL_FAMILY, FaceRecord, read_face_folder
from .evaluate import CROP_BATCH, select_crops, service_crops
from .metrics import roc_auc

PROBE_FOLDS = 5
PROBE_MAX_ITERATIONS = 2000
# The fewest faces of a real source that cross-validation can take (one fold each); a recipe's
# held-out groups may keep fewer of a small source (ffhq1024 has 4 faces in all).
PROBE_MIN_FACES = 2


@dataclass(frozen=True)
class AuditFolder:
    path: Path  # a metadata.csv crop folder
    validation_of: Path | None = None  # a training config that used it: its held-out groups only


@dataclass
class AuditScores:
    records: list[FaceRecord] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)


def audit_records(folders: Sequence[AuditFolder], per_cell: int, seed: int) -> list[FaceRecord]:
    """At most per_cell crops of each (source, family), held-out groups only where asked."""
    chosen: list[FaceRecord] = []
    for folder in folders:
        # Fakes without a family of their own are named after their folder (genfaces).
        records = read_face_folder(folder.path, fake_family=folder.path.name)
        records = select_crops(records, folder.validation_of, None)
        cells: dict[tuple[str, str], list[FaceRecord]] = {}
        for record in records:
            cells.setdefault((record.source, record.family), []).append(record)
        for cell in cells.values():
            chosen.extend(select_crops(cell, None, per_cell, seed))
    return chosen


def score_records(analyzer: Analyzer, records: Sequence[FaceRecord]) -> AuditScores:
    scores = AuditScores()
    temperature = analyzer.model.temperature
    for start in range(0, len(records), CROP_BATCH):
        chunk = records[start : start + CROP_BATCH]
        logits, embeddings = analyzer.engine.infer(service_crops(chunk, analyzer))
        probabilities = 1 / (1 + np.exp(-logits.astype(np.float64) / temperature))
        scores.records.extend(chunk)
        scores.probabilities.extend(float(p) for p in probabilities)
        scores.embeddings.extend(embeddings)
    return scores


def source_probe(embeddings: np.ndarray, sources: Sequence[str], seed: int) -> dict[str, Any]:
    """How well a linear probe on the embedding tells the real sources apart. A source with
    too few faces to cross-validate on is left out of the probe and named."""
    counts = Counter(sources)
    names = sorted(name for name, n in counts.items() if n >= PROBE_MIN_FACES)
    if len(names) < 2:
        raise ValueError(f"the source probe needs 2 real sources of {PROBE_MIN_FACES}+ faces")
    kept = np.array([s in names for s in sources])
    embeddings = embeddings[kept]
    labels = np.array([names.index(s) for s in sources if s in names])
    probe = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITERATIONS, C=0.1)
    )
    smallest = int(np.bincount(labels).min())
    folds = StratifiedKFold(min(PROBE_FOLDS, smallest), shuffle=True, random_state=seed)
    predicted = cross_val_predict(probe, embeddings, labels, cv=folds, method="predict_proba")
    pairs = {}
    for a, b in combinations(range(len(names)), 2):
        mask = (labels == a) | (labels == b)
        # Probability of b over a, given one of the two: the pair's own separability.
        score = predicted[mask, b] / (predicted[mask, a] + predicted[mask, b] + 1e-12)
        pairs[f"{names[a]} vs {names[b]}"] = roc_auc(labels[mask] == b, score)
    return {
        "sources": names,
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted.argmax(axis=1))),
        "chance": 1 / len(names),
        "pair_auc": pairs,
        "too_few_faces": sorted(set(counts) - set(names)),
    }


def audit(analyzer: Analyzer, scores: AuditScores, seed: int = 0) -> dict[str, Any]:
    probabilities = np.array(scores.probabilities)
    real = np.array([r.label == 0 for r in scores.records])
    sources = np.array([r.source for r in scores.records])
    families = np.array([r.family for r in scores.records])
    real_sources = sorted(set(sources[real]))
    fake_families = sorted(set(families[~real]))
    model = analyzer.model
    auc: dict[str, dict[str, float]] = {}
    for source in real_sources:
        reals = probabilities[real & (sources == source)]
        auc[source] = {}
        for family in fake_families:
            fakes = probabilities[families == family]
            labels = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
            auc[source][family] = roc_auc(labels, np.r_[reals, fakes])
    verdicts: dict[str, dict[str, float]] = {}
    for name in [*real_sources, *fake_families]:
        mask = (real & (sources == name)) if name in real_sources else (families == name)
        said = [model.policy.person(float(p), photo=True).value for p in probabilities[mask]]
        verdicts[name] = {
            "n": len(said),
            "median_p": float(np.median(probabilities[mask])),
            **{v: said.count(v) / len(said) for v in ("real", "uncertain", "fake")},
        }
    embeddings = np.stack(scores.embeddings)
    return {
        "weights": model.weights_name,
        "photo_real_below": model.policy.photo_real_below,
        "photo_fake_at_or_above": model.policy.photo_fake_at_or_above,
        "auc": auc,
        "verdicts": verdicts,
        "family": {f: f for f in fake_families} | {s: REAL_FAMILY for s in real_sources},
        "source_probe": source_probe(embeddings[real], list(sources[real]), seed),
    }


def source_metrics(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per real source, what a manifest keeps: verdict shares, and AUC against each family."""
    return {
        source: {
            "n": float(result["verdicts"][source]["n"]),
            "median_p": result["verdicts"][source]["median_p"],
            **{f"said_{v}": result["verdicts"][source][v] for v in ("real", "uncertain", "fake")},
            **{f"auc_{family}": value for family, value in row.items()},
        }
        for source, row in result["auc"].items()
    }


def audit_lines(result: dict[str, Any]) -> list[str]:
    """The audit as markdown tables."""
    auc = result["auc"]
    families = sorted(next(iter(auc.values())))
    lines = [
        f"weights {result['weights']}; photos: real below {result['photo_real_below']:.3g}, "
        f"fake at or above {result['photo_fake_at_or_above']:.3g}",
        "",
        "| real source | " + " | ".join(families) + " |",
        "|---" * (len(families) + 1) + "|",
    ]
    for source, row in auc.items():
        lines.append(f"| {source} | " + " | ".join(f"{row[f]:.3f}" for f in families) + " |")
    lines += ["", "| set | n | median p | real | uncertain | fake |", "|---|---|---|---|---|---|"]
    for name, row in result["verdicts"].items():
        lines.append(
            f"| {name} | {row['n']} | {row['median_p']:.3f} | {row['real']:.1%} "
            f"| {row['uncertain']:.1%} | {row['fake']:.1%} |"
        )
    probe = result["source_probe"]
    lines += [
        "",
        f"source probe on the embedding ({len(probe['sources'])} real sources): balanced "
        f"accuracy {probe['balanced_accuracy']:.3f} (chance {probe['chance']:.3f})",
    ]
    lines += [f"- {pair}: AUC {value:.3f}" for pair, value in probe["pair_auc"].items()]
    if probe["too_few_faces"]:
        lines.append(f"- left out, too few faces: {', '.join(probe['too_few_faces'])}")
    return lines
