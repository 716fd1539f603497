"""Leave one family out: `deepfake-stream lofo --config configs/train/<name>.yaml`.

One training run per fake family of the config's draw_shares, each with that family kept out
of training and scored on validation: its AUC there says how the other families' training
carries over to a manipulation it never saw, which is the question media beyond the training
data asks. Model selection looks at the worst of these, not at the average."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..detection.weights import read_manifest
from .data import REAL_FAMILY
from .recipe import TrainSettings
from .train import train

# Where the runs' releases and the table go, under the config's output folder.
LOFO_FOLDER = "lofo"
TABLE_FILE = "lofo.json"


@dataclass(frozen=True)
class LeftOutFamily:
    """One run: the family kept out of training, and validation AUC on it and on the rest."""

    family: str
    held_out_auc: float  # the left-out family against every validation real
    held_out_fakes: int
    trained_mean_auc: float  # mean over the families it trained on
    trained_worst_auc: float
    trained_worst_family: str
    manifest: str  # the run's release


def run_settings(settings: TrainSettings, family: str) -> TrainSettings:
    """The config of the run that leaves `family` out: its own release and checkpoint.
    Validated again (model_copy would not), so that a family that cannot be left out says so."""
    return TrainSettings.model_validate(
        {
            **settings.model_dump(),
            "leave_out": family,
            "name": f"{settings.name}-without-{family}",
            "output": settings.output / LOFO_FOLDER,
            "checkpoint": settings.checkpoint.with_name(
                f"{settings.checkpoint.stem}-without-{family}{settings.checkpoint.suffix}"
            ),
        }
    )


def families_of(settings: TrainSettings) -> list[str]:
    """The fake families the config trains on (those with a share)."""
    return [f for f, share in settings.draw_shares.items() if f != REAL_FAMILY and share > 0]


def plan_runs(
    settings: TrainSettings, families: Sequence[str] | None = None
) -> list[TrainSettings]:
    """The config of each run (every fake family of the config, or those given), all checked
    before any trains: a family without a share, or one whose run would have no fake family
    left to train on, is a ValueError here rather than after hours of training."""
    chosen = list(families) if families is not None else families_of(settings)
    unknown = sorted(set(chosen) - set(families_of(settings)))
    if unknown:
        raise ValueError(f"families {unknown} have no share in the config's draw_shares")
    return [run_settings(settings, family) for family in chosen]


def leave_one_family_out(
    runs: Sequence[TrainSettings], command: str | None = None
) -> list[LeftOutFamily]:
    """Train each planned run (plan_runs) and write the table beside the releases."""
    rows = []
    for run in runs:
        family = run.leave_out
        assert family is not None  # plan_runs sets it
        manifest_path = train(run, command=command)
        metrics = read_manifest(manifest_path).family_metrics
        if family not in metrics:
            raise ValueError(f"validation holds no sample of family {family!r}")
        trained = {f: m["auc"] for f, m in metrics.items() if f != family}
        worst = min(trained, key=trained.__getitem__)
        rows.append(
            LeftOutFamily(
                family=family,
                held_out_auc=metrics[family]["auc"],
                held_out_fakes=int(metrics[family]["fakes"]),
                trained_mean_auc=sum(trained.values()) / len(trained),
                trained_worst_auc=trained[worst],
                trained_worst_family=worst,
                manifest=str(manifest_path),
            )
        )
    if runs:
        (runs[0].output / TABLE_FILE).write_text(
            json.dumps([asdict(row) for row in rows], indent=2) + "\n"
        )
    return rows


def format_table(rows: Sequence[LeftOutFamily]) -> list[str]:
    """Markdown: one line per family left out, and the worst held-out AUC."""
    lines = [
        "| left out | its AUC (fakes) | trained families: mean AUC | worst |",
        "|---|---|---|---|",
        *(
            f"| {r.family} | {r.held_out_auc:.3f} ({r.held_out_fakes}) | "
            f"{r.trained_mean_auc:.3f} | {r.trained_worst_family} {r.trained_worst_auc:.3f} |"
            for r in rows
        ),
    ]
    if rows:
        worst = min(rows, key=lambda r: r.held_out_auc)
        lines.append(f"worst family left out: {worst.family} {worst.held_out_auc:.3f}")
    return lines
