"""Training samples across manipulation families: which crop, which family, how it is drawn.

A sample is a dataset record plus the family it stands for: "real" (an untouched real
face), a fake record's own family (dfdc, generated, ...) or a synthesised family (swap,
mouth, resolution, sbi: see synthesis.py), which turns a real record with landmarks into a
fake when the sample is rendered. Draw shares are given per family, so a family is drawn as
often as the config says whatever its size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..detection.crop import CropSpec, jpeg, read_dataset_crop
from .augment import AugmentOptions, augment
from .data import REAL_FAMILY, FaceRecord
from .synthesis import FAMILIES as SYNTHETIC_FAMILIES
from .synthesis import SELF_FAMILIES, SynthesisOptions, swap

Landmarks = dict[Path, np.ndarray]  # crop path -> (5, 2) MTCNN points in crop pixels

# Swap donors: this many random real faces are considered, and the one whose landmark layout
# (pose) is nearest is used; a swapper is only ever run on faces of a similar pose.
DONOR_CANDIDATES = 24


@dataclass(frozen=True)
class Sample:
    record: FaceRecord
    family: str  # REAL_FAMILY, the record's fake family, or a synthetic family

    @property
    def label(self) -> int:
        return 0 if self.family == REAL_FAMILY else 1


def build_samples(
    records: Sequence[FaceRecord], synthetic: Sequence[str], landmarks: Landmarks
) -> list[Sample]:
    """Every record as itself, plus each real record with landmarks once per synthetic family."""
    unknown = set(synthetic) - set(SYNTHETIC_FAMILIES)
    if unknown:
        raise ValueError(
            f"unknown synthetic families {sorted(unknown)}; known: {SYNTHETIC_FAMILIES}"
        )
    samples = [Sample(record, record.family) for record in records]
    blendable = [r for r in records if r.label == 0 and r.path in landmarks]
    for family in synthetic:
        samples.extend(Sample(record, family) for record in blendable)
    return samples


def sample_weights(
    samples: Sequence[Sample],
    shares: Mapping[str, float],
    real_source_shares: Mapping[str, float] | None = None,
) -> list[float]:
    """Per-sample draw weights under which family f is drawn with probability shares[f]
    (shares are normalised; a family with no share is never drawn). With real_source_shares,
    the real share is split among the reals' sources by those (normalised) shares, so that a
    large source does not outweigh the small one its paired fakes come from."""
    counts = Counter(sample.family for sample in samples)
    missing = [family for family, share in shares.items() if share > 0 and not counts[family]]
    if missing:
        raise ValueError(f"families {missing} have a draw share but no samples")
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("draw shares must add up to more than 0")
    if not real_source_shares:
        return [shares.get(s.family, 0.0) / total / counts[s.family] for s in samples]
    real_sources = Counter(s.record.source for s in samples if s.family == REAL_FAMILY)
    unknown = set(real_source_shares) - set(real_sources)
    if unknown or set(real_sources) - set(real_source_shares):
        raise ValueError(
            f"real_source_shares names {sorted(real_source_shares)}; "
            f"the training reals come from {sorted(real_sources)}"
        )
    source_total = sum(real_source_shares.values())
    weights = []
    for s in samples:
        share = shares.get(s.family, 0.0) / total
        if s.family == REAL_FAMILY:
            source = s.record.source
            share *= real_source_shares[source] / source_total / real_sources[source]
        else:
            share /= counts[s.family]
        weights.append(share)
    return weights


def subsample_per_family(
    samples: Sequence[Sample], per_family: int | None, seed: int
) -> list[Sample]:
    """At most per_family samples of each family, drawn at random (order kept)."""
    if per_family is None:
        return list(samples)
    rng = np.random.default_rng(seed)
    by_family: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        by_family.setdefault(sample.family, []).append(index)
    kept: list[int] = []
    for indices in by_family.values():
        if len(indices) > per_family:
            indices = sorted(rng.choice(indices, per_family, replace=False).tolist())
        kept.extend(indices)
    return [samples[i] for i in sorted(kept)]


def _pose(points: np.ndarray) -> np.ndarray:
    """Landmarks without position and scale: the layout that says where a face looks."""
    centred = points - points.mean(axis=0)
    return np.asarray((centred / (np.linalg.norm(centred) + 1e-6)).ravel())


class DonorPool:
    """Real faces with landmarks that a swap can take its source face from. A donor always
    comes from the face's own source, so that a swap never mixes two sources' resolution,
    compression or framing (that would be a cue of the source, not of the swap)."""

    def __init__(self, records: Sequence[FaceRecord], landmarks: Landmarks) -> None:
        self.records = [r for r in records if r.label == 0 and r.path in landmarks]
        self.landmarks = landmarks
        self.poses = (
            np.stack([_pose(landmarks[r.path]) for r in self.records])
            if self.records
            else np.zeros((0, 10))
        )
        self.by_source: dict[str, np.ndarray] = {}
        for source in {r.source for r in self.records}:
            self.by_source[source] = np.array(
                [i for i, r in enumerate(self.records) if r.source == source]
            )

    def pick(self, record: FaceRecord, rng: np.random.Generator) -> FaceRecord | None:
        """A donor of the same source and another group whose pose is nearest this record's,
        among random ones."""
        pool = self.by_source.get(record.source)
        if pool is None or not len(pool):
            return None
        candidates = rng.choice(pool, min(DONOR_CANDIDATES, len(pool)))
        candidates = np.array([c for c in candidates if self.records[c].group != record.group])
        if not len(candidates):
            return None
        distance = np.linalg.norm(
            self.poses[candidates] - _pose(self.landmarks[record.path]), axis=1
        )
        return self.records[int(candidates[int(np.argmin(distance))])]


@dataclass(frozen=True)
class RenderOptions:
    crop: CropSpec  # the crop served: size, detail limit and the encode every crop ends with
    geometry_jitter: float  # random zoom and shift, as a share of the side
    seed: int


class SampleRenderer:
    """Turns a sample into the uint8 crop a branch trains on: read, synthesise, degrade,
    encode. Deterministic in (seed, epoch, index)."""

    def __init__(
        self,
        options: RenderOptions,
        landmarks: Landmarks,
        donors: DonorPool,
        augment_options: AugmentOptions | None = None,
        synthesis_options: SynthesisOptions | None = None,
    ) -> None:
        self.options = options
        self.landmarks = landmarks
        self.donors = donors
        self.augment_options = augment_options or AugmentOptions()
        self.synthesis_options = synthesis_options or SynthesisOptions()

    def read(self, record: FaceRecord) -> np.ndarray:
        # Not encoded yet: the degradations come first, the crop's own encode last.
        return read_dataset_crop(record.path, record.native_side, self.options.crop, encode=False)

    def render(self, sample: Sample, index: int, epoch: int, training: bool) -> np.ndarray:
        rng = np.random.default_rng((self.options.seed, epoch, index))
        crop = self.read(sample.record)
        if sample.family in SYNTHETIC_FAMILIES:
            crop = self._synthesise(crop, sample, rng)
        if training:
            crop = jitter_geometry(crop, rng, self.options.geometry_jitter)
            crop = augment(crop, rng, self.augment_options)
        if self.options.crop.jpeg_quality is not None:
            crop = jpeg(crop, self.options.crop.jpeg_quality)
        return crop

    def _synthesise(self, crop: np.ndarray, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        points = self.landmarks[sample.record.path]
        if sample.family in SELF_FAMILIES:
            return SELF_FAMILIES[sample.family](crop, points, rng, self.synthesis_options)[0]
        donor = self.donors.pick(sample.record, rng)
        if donor is None:  # nobody to swap with: fall back to a self-made fake
            return SELF_FAMILIES["sbi"](crop, points, rng, self.synthesis_options)[0]
        donor_crop = self.read(donor)
        return swap(
            crop, points, donor_crop, self.landmarks[donor.path], rng, self.synthesis_options
        )[0]


def jitter_geometry(crop: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Zoom and shift a crop slightly, so the model tolerates crop geometry that varies."""
    if amount <= 0:
        return crop
    size = crop.shape[0]
    scale = 1.0 + rng.uniform(-amount, amount)
    dx, dy = rng.uniform(-amount, amount, size=2) * size
    side = size / scale
    left, top = (size - side) / 2 + dx, (size - side) / 2 + dy
    image = Image.fromarray(crop).crop((left, top, left + side, top + side))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
