"""Training data: face-crop folders in the metadata.csv layout, split by source video.

A folder holds images plus metadata.csv with at least the columns `file` (relative path),
`label` (REAL or FAKE) and `group` (the source video: a real video and the fakes made from it
share one). Splits are made by group, never by file, or the same face leaks into both sides.

Every record has a family: "real" for real faces; for fakes, the row's `family` column where
the folder has one, else the family the training config gives the folder (e.g. dfdc,
generated). Sampling and evaluation are balanced and reported per family.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

METADATA_FILE = "metadata.csv"
REQUIRED_COLUMNS = ("file", "label", "group")
LABELS = {"REAL": 0, "FAKE": 1}
# Optional columns: the crop's size before it was resized (dfdc-faces has them).
SIZE_COLUMNS = ("original_width", "original_height")
FAMILY_COLUMN = "family"
# Optional, written by `data import`: the source's name, and MTCNN's five points in crop pixels.
SOURCE_COLUMN = "source"
LANDMARKS_COLUMN = "landmarks"
REAL_FAMILY = "real"  # the family of every real face


@dataclass(frozen=True)
class FaceRecord:
    path: Path  # the image
    label: int  # 1 fake, 0 real
    group: str  # source video; the unit of splitting
    # The row's `source`, else the first folder of the relative path (e.g. real, fake): for
    # breakdowns, and swaps take their donors from the same source.
    source: str
    native_side: int | None = None  # longer side of the crop before it was resized, if known
    family: str = REAL_FAMILY  # "real", or the manipulation family of a fake
    # MTCNN's eyes, nose and mouth corners in pixels of the crop at 224 x 224, where known.
    landmarks: tuple[float, ...] | None = None


def read_face_folder(
    root: Path, fake_family: str = "fake", source_name: str | None = None
) -> list[FaceRecord]:
    """Records of a metadata.csv folder, checked: known labels, files present. Fakes without
    a `family` column value belong to fake_family; rows without a `source` value come from
    source_name, else from their first folder."""
    metadata = root / METADATA_FILE
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata} not found: expected a {METADATA_FILE} layout")
    records = []
    with metadata.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{metadata} lacks the columns {missing}")
        for line, row in enumerate(reader, start=2):
            label = row["label"].strip().upper()
            if label not in LABELS:
                raise ValueError(f"{metadata}:{line}: label {row['label']!r} is not REAL or FAKE")
            relative = Path(row["file"])
            path = root / relative
            if not path.is_file():
                raise FileNotFoundError(f"{metadata}:{line}: {path} does not exist")
            source = (
                (row.get(SOURCE_COLUMN) or "").strip()
                or source_name
                or (relative.parts[0] if len(relative.parts) > 1 else ".")
            )
            points = (row.get(LANDMARKS_COLUMN) or "").split()
            if points and len(points) != 10:
                raise ValueError(f"{metadata}:{line}: landmarks need 10 numbers")
            sides = [row.get(column) or "" for column in SIZE_COLUMNS]
            native_side = max(int(side) for side in sides) if all(sides) else None
            family = (
                REAL_FAMILY
                if LABELS[label] == 0
                else (row.get(FAMILY_COLUMN) or "").strip() or fake_family
            )
            records.append(
                FaceRecord(
                    path,
                    LABELS[label],
                    row["group"].strip(),
                    source,
                    native_side,
                    family,
                    tuple(float(v) for v in points) if points else None,
                )
            )
    return records


def read_face_folders(folders: Sequence[tuple[Path, str, str | None]]) -> list[FaceRecord]:
    """The records of several (folder, fake family, source name) triples, in order."""
    return [
        record
        for root, family, source in folders
        for record in read_face_folder(root, family, source)
    ]


def group_fraction(group: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for a group (same on every machine and run)."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_group(
    records: Sequence[FaceRecord], validation_fraction: float, seed: int = 0
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """(train, validation): every record of a group lands on the same side."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must be between 0 and 1")
    train: list[FaceRecord] = []
    validation: list[FaceRecord] = []
    for record in records:
        side = validation if group_fraction(record.group, seed) < validation_fraction else train
        side.append(record)
    return train, validation


def without_groups(records: Iterable[FaceRecord], groups: Iterable[str]) -> list[FaceRecord]:
    """Leave out whole groups (e.g. videos kept back for end-to-end evaluation)."""
    excluded = set(groups)
    return [record for record in records if record.group not in excluded]
