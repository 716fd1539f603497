"""Training recipes: the YAML under configs/train/ as typed settings, and the records they
select (folders, held-out groups, the split by group)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..detection.crop import CropGeometry
from .data import REAL_FAMILY, FaceRecord, read_face_folders, split_by_group, without_groups
from .synthesis import FAMILIES as SYNTHETIC_FAMILIES

# The serving crop that the DFDC crops of ../shared correspond to (weights/README.md).
DFDC_CROP = CropGeometry(margin=-0.15, offset_y=0.10, max_native_side=160, jpeg_quality=75)


class DataSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path  # a metadata.csv folder
    family: str = "fake"  # the family of its fakes (rows may name their own)
    source: str | None = None  # the source of rows without a `source` column (else their folder)


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: list[DataSource]  # face-crop folders; a plain path is one folder of family "fake"
    data_terms: str = ""  # the data's licence or terms of use, copied into the manifest
    name: str = "srm-lite0-dfdc"  # release name: <output>/<name>.safetensors and .json
    output: Path = Path("weights")
    architecture: str = "srm_efficientnet_lite0"
    init_weights: Path | None = None  # a released manifest to start from instead of ImageNet
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=1.0)
    exclude_groups: list[str] = []  # groups held out entirely (videos kept for end-to-end checks)
    seed: int = 0
    epochs: int = Field(default=6, ge=1)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=1e-4, ge=0.0)
    warmup_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    frozen_stages: int = Field(default=3, ge=0)  # stem + this many backbone stages stay as loaded
    # Share of draws per family: "real", each folder's fake family, and synthesised families
    # (swap, mouth, resolution, sbi). Normalised; a family left out is not drawn.
    draw_shares: dict[str, float] = {REAL_FAMILY: 0.5, "fake": 0.5}
    samples_per_epoch: int | None = Field(default=None, ge=1)  # None: one per training record
    # Draw and render one epoch's samples once and train every epoch on them (CPU recipes).
    render_once: bool = False
    validation_per_family: int | None = Field(default=None, ge=1)  # cap per validation family
    # A family of draw_shares kept out of training but scored on validation, so that its AUC
    # says how the rest generalise to it (leave-one-family-out: training/lofo.py).
    leave_out: str | None = None
    # How the real share is split among the real faces' sources (the `source` column, else the
    # first folder: dfdc-faces' reals are "real"). None: in proportion to their sizes.
    real_source_shares: dict[str, float] | None = None
    # The sources whose real faces the synthesised families are made from (None: every source).
    # Sources imported by `data import` carry their landmarks; others need an MTCNN pass.
    synthesise_from: list[str] | None = None
    geometry_jitter: float = Field(default=0.05, ge=0.0, le=0.3)  # random zoom/shift, share of side
    # Share of samples, real and fake alike, with black beyond an edge (augment.black_edges):
    # for sources whose crops have black margins, which must not become a cue.
    frame_edge_p: float = Field(default=0.0, ge=0.0, le=1.0)
    # The crop these crops correspond to, which the manifest hands to serving (crop.py): the
    # geometry measured on the DFDC crops; their median source face was 155 px wide, so no
    # crop keeps more detail than 160 px; and every crop, training and validation, ends with
    # the JPEG encode the dataset's crops all had (quality 75), or the lack of JPEG blocking
    # becomes a cue (measured: weights/README.md).
    crop: CropGeometry = DFDC_CROP
    max_train: int | None = None  # cap on training records (quick runs)
    max_validation: int | None = None
    workers: int = Field(default=2, ge=0)
    device: str = "cpu"
    checkpoint: Path = Path(".cache/train/checkpoint.pt")
    landmarks_cache: Path = Path(".cache/landmarks/landmarks.npz")

    @field_validator("data", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return [{"path": value}]
        return value

    @model_validator(mode="after")
    def _check_shares(self) -> TrainSettings:
        families = {source.family for source in self.data} | {REAL_FAMILY}
        unknown = set(self.draw_shares) - families - set(SYNTHETIC_FAMILIES)
        if unknown:
            raise ValueError(
                f"draw_shares names {sorted(unknown)}: neither a folder's family "
                f"({sorted(families)}) nor a synthesised one ({list(SYNTHETIC_FAMILIES)})"
            )
        if any(share < 0 for share in self.draw_shares.values()):
            raise ValueError("draw_shares must not be negative")
        if self.leave_out is not None and (
            self.leave_out == REAL_FAMILY or not self.draw_shares.get(self.leave_out)
        ):
            raise ValueError(
                f"leave_out {self.leave_out!r} must be a fake family with a share in draw_shares"
            )
        fake_shares = [s for f, s in self.training_shares.items() if f != REAL_FAMILY]
        if not self.draw_shares.get(REAL_FAMILY) or sum(fake_shares) <= 0:
            raise ValueError("draw_shares needs a share for real and at least one fake family")
        return self

    @property
    def training_shares(self) -> dict[str, float]:
        """The draw shares that training uses: draw_shares without the left-out family."""
        return {f: s for f, s in self.draw_shares.items() if f != self.leave_out}

    @property
    def synthetic_families(self) -> list[str]:
        """The synthesised families that training draws."""
        return [f for f, s in self.training_shares.items() if f in SYNTHETIC_FAMILIES and s > 0]

    @property
    def validation_synthetic_families(self) -> list[str]:
        """The synthesised families that validation scores: the trained ones and the left-out."""
        left_out = [self.leave_out] if self.leave_out in SYNTHETIC_FAMILIES else []
        return [*self.synthetic_families, *left_out]


def load_train_settings(path: Path) -> TrainSettings:
    return TrainSettings.model_validate(yaml.safe_load(path.read_text()) or {})


def grouped_split(
    records: Sequence[FaceRecord], settings: TrainSettings
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Training and validation records as this config splits them: its held-out groups
    dropped, the rest split by group (no source video on both sides)."""
    kept = without_groups(records, settings.exclude_groups)
    return split_by_group(kept, settings.validation_fraction, settings.seed)


def read_records(settings: TrainSettings) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """The config's (training, validation) records, split and capped."""
    records = read_face_folders(
        [(source.path, source.family, source.source) for source in settings.data]
    )
    train_records, validation_records = grouped_split(records, settings)
    rng = np.random.default_rng(settings.seed)
    if settings.max_train is not None and len(train_records) > settings.max_train:
        chosen = rng.choice(len(train_records), settings.max_train, replace=False)
        train_records = [train_records[i] for i in sorted(chosen)]
    if settings.max_validation is not None and len(validation_records) > settings.max_validation:
        chosen = rng.choice(len(validation_records), settings.max_validation, replace=False)
        validation_records = [validation_records[i] for i in sorted(chosen)]
    return train_records, validation_records
