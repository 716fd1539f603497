"""Trained weights on disk: a safetensors file plus a JSON manifest, checked by sha256 on load.

The manifest (weights/<name>.json) names the file, its sha256, the architecture and the crop
it was trained with (crop.py), the calibration (temperature, thresholds), the
training data and its terms, and the validation metrics. A file that does not hash to the
manifest's sha256 is refused.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import WeightsError
from .crop import CropSpec

if TYPE_CHECKING:  # PyTorch loads only where weights load: not in the job API front
    import torch

    from .registry import Detector

HASH_CHUNK_BYTES = 1 << 20
# Defaults for a model without a manifest (untrained): no claim either way is trustworthy,
# so the two thresholds are wide apart.
UNTRAINED_THRESHOLDS = (0.3, 0.7)
# Manifests written before the crop contract had its own object: their flat field -> its field.
LEGACY_CROP_FIELDS = {
    "input_size": "size",
    "mean": "mean",
    "std": "std",
    "crop_margin": "margin",
    "crop_offset_y": "offset_y",
    "max_native_side": "max_native_side",
    "crop_jpeg_quality": "jpeg_quality",
}


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    real_below: float = Field(ge=0.0, le=1.0)  # probability below which a video is "real"
    fake_at_or_above: float = Field(ge=0.0, le=1.0)  # at or above which it is "fake"
    # Below which a photo is "real"; None: real_below. A photo has no frames to average, and
    # generated faces come as photos (calibrated on them: training/calibrate.py).
    photo_real_below: float | None = Field(default=None, ge=0.0, le=1.0)

    # At or above which a photo is "fake"; None: fake_at_or_above. Calibrated on real photos
    # from a source kept out of training, whose scores spread wider than validation's reals.
    photo_fake_at_or_above: float | None = Field(default=None, ge=0.0, le=1.0)

    def photo_real_below_in_force(self) -> float:
        """The photo threshold: never above the video one, which bounds every `real`."""
        if self.photo_real_below is None:
            return self.real_below
        return min(self.photo_real_below, self.real_below)

    def photo_fake_at_or_above_in_force(self) -> float:
        """The photo fake threshold: never below the video one, which bounds every `fake`."""
        if self.photo_fake_at_or_above is None:
            return self.fake_at_or_above
        return max(self.photo_fake_at_or_above, self.fake_at_or_above)


class RealCalibration(BaseModel):
    """How the "real" threshold was lowered on media from manipulation methods the model was
    not trained on (`deepfake-stream calibrate`, training/calibrate.py). Validation only says
    how often the model misses fakes like those it learnt; a model that calls unseen methods
    real needs a stricter "real" than that to keep its `real` verdicts honest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_real_below: float = Field(ge=0.0, le=1.0)  # chosen on validation, before this
    real_below: float = Field(ge=0.0, le=1.0)  # in force; never above validation_real_below
    max_missed_fake_rate: float = Field(ge=0.0, lt=1.0)  # the rule: fakes below real_below
    data: str  # the media folder it was calibrated on, by name
    fakes: int
    reals: int
    fakes_below_by_family: dict[str, float]  # share of each family's fakes below real_below
    reals_below: float  # share of that folder's reals below real_below ("real")
    # Real faces from sources kept out of training (calibrate --reals): the share of each set
    # below real_below, which is what "real where the model has reason to believe it" costs.
    held_out_reals_below: dict[str, float] = {}
    # The trade-off: for each rule (max_missed_fake_rate), the cut, the share of the fakes below
    # it and the share of each held-out real set below it.
    tradeoff: list[dict[str, float]] = []
    command: str


class FakeCalibration(BaseModel):
    """How the photo "fake" threshold was raised on real photos of sources kept out of
    training (`deepfake-stream calibrate CROPS --reals ...`): validation's reals are the
    training sources' own, and a real photo from elsewhere scores higher more often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_fake_at_or_above: float = Field(ge=0.0, le=1.0)  # chosen on validation
    fake_at_or_above: float = Field(ge=0.0, le=1.0)  # in force; never below the validation one
    max_false_fake_rate: float = Field(ge=0.0, lt=1.0)  # the rule: reals at or above the cut
    data: list[str]  # the real sets it was calibrated on, by name
    reals: int
    reals_at_or_above: dict[str, float]  # share of each set at or above the cut ("fake")
    fakes_at_or_above: float  # share of the calibration's fakes at or above it (detected)
    # For each rule (max_false_fake_rate): the cut, and the share of reals and fakes above it.
    tradeoff: list[dict[str, float]] = []
    # The held-out reals' highest probabilities, highest first (as many as the rule lets be
    # fake, and one more): enough to keep the rule for photos of several faces.
    real_tail: list[float] = []
    command: str

    def fake_at_or_above_for(self, faces: int) -> float:
        """The cut for a photo of `faces` faces. Any one face at or above the cut makes the
        photo fake, so with k faces each is held to 1 - (1 - rule)^(1/k) (Sidak): a real group
        photo is then called fake no more often than a real portrait. Without the tail (older
        manifests), or for one face, the single-face cut."""
        if faces <= 1 or not self.real_tail:
            return self.fake_at_or_above
        per_face = 1.0 - (1.0 - self.max_false_fake_rate) ** (1.0 / faces)
        allowed = math.floor(per_face * self.reals + 1e-9)  # reals that may stay at or above
        if allowed >= len(self.real_tail):
            return self.fake_at_or_above
        boundary = self.real_tail[allowed]
        above = [p for p in self.real_tail if p > boundary]
        cut = min(above) if above else math.nextafter(boundary, math.inf)
        return max(self.fake_at_or_above, cut)


class WeightsManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # human name of this release of weights
    architecture: str  # registry name (deepfake_stream.detection.registry)
    file: str  # safetensors file, relative to the manifest
    sha256: str  # of that file
    crop: CropSpec  # the crop the weights were trained with: the service cuts the same
    temperature: float = Field(default=1.0, gt=0.0)  # logits are divided by this
    thresholds: Thresholds
    calibration: RealCalibration | None = None  # set when real_below was calibrated
    photo_calibration: RealCalibration | None = None  # set when photo_real_below was
    photo_fake_calibration: FakeCalibration | None = None  # set when photo_fake_at_or_above was
    training_data: str  # what it was trained on, with the data's terms
    training_command: str  # exact command that produced the file
    trained_on: str  # hardware
    metrics: dict[str, float] = {}  # validation metrics
    # Per fake family (dfdc, generated, swap, ...): its validation AUC against the reals, etc.
    family_metrics: dict[str, dict[str, float]] = {}
    draw_shares: dict[str, float] = {}  # training draws by family
    # Per real source (the shortcut audit): its faces' verdicts as photos and its AUC against
    # each fake family. A source far worse than the others was learnt, not the manipulation.
    source_metrics: dict[str, dict[str, float]] = {}

    @model_validator(mode="before")
    @classmethod
    def _fold_legacy_crop(cls, data: Any) -> Any:
        """Older manifests spelt the crop out as flat fields: read them as the crop."""
        if isinstance(data, dict) and "crop" not in data and "input_size" in data:
            data = dict(data)
            data["crop"] = {
                new: data.pop(old) for old, new in LEGACY_CROP_FIELDS.items() if old in data
            }
        return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> WeightsManifest:
    if not path.is_file():
        raise WeightsError(f"weights manifest not found: {path}")
    try:
        return WeightsManifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise WeightsError(f"weights manifest {path} is invalid: {exc}") from exc


def write_manifest(path: Path, manifest: BaseModel) -> None:
    """Every manifest (weights or fusion) is written in one format: indented JSON, one newline."""
    path.write_text(manifest.model_dump_json(indent=2) + "\n")


class NamesWeightsFile(Protocol):
    """Any manifest (face, frequency or voice weights): it names a file and its sha256."""

    @property
    def file(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def verified_weights_path(manifest_path: Path, manifest: NamesWeightsFile) -> Path:
    """The weights file named by the manifest, after checking its sha256."""
    weights_path = (manifest_path.parent / manifest.file).resolve()
    if not weights_path.is_file():
        raise WeightsError(f"weights file not found: {weights_path}")
    actual = sha256_file(weights_path)
    if actual != manifest.sha256:
        raise WeightsError(
            f"weights file {weights_path} has sha256 {actual}, but the manifest "
            f"{manifest_path} expects {manifest.sha256}: refusing to load it"
        )
    return weights_path


def load_trained_detector(manifest_path: Path) -> tuple[Detector, WeightsManifest]:
    """Build the manifest's architecture and load its verified weights into it."""
    from .registry import create_detector

    manifest = read_manifest(manifest_path)
    weights_path = verified_weights_path(manifest_path, manifest)
    detector = create_detector(manifest.architecture, imagenet_backbone=False)
    if manifest.crop.normalisation() != detector.crop.normalisation():
        raise WeightsError(
            f"manifest {manifest_path} crop (size, mean, std) {manifest.crop.normalisation()} "
            f"does not match architecture {manifest.architecture}'s "
            f"{detector.crop.normalisation()}"
        )
    load_weights_into(detector, weights_path, "the detector")
    return detector.eval(), manifest


def load_weights_into(module: torch.nn.Module, weights_path: Path, what: str) -> None:
    """Load a verified safetensors file into a model (a detector, the voice model), every
    tensor matching; WeightsError names the file and `what` it does not fit."""
    from safetensors.torch import load_file

    try:
        module.load_state_dict(load_file(str(weights_path)), strict=True)
    except (RuntimeError, OSError) as exc:
        raise WeightsError(f"weights in {weights_path} do not fit {what}: {exc}") from exc


def save_detector_weights(detector: torch.nn.Module, path: Path) -> str:
    """Write a model's weights (a detector's, the voice model's) as safetensors; returns the
    file's sha256."""
    from safetensors.torch import save_file

    state = {key: value.detach().contiguous().cpu() for key, value in detector.state_dict().items()}
    save_file(state, str(path))
    return sha256_file(path)


def state_dict_sha256(detector: torch.nn.Module) -> str:
    """A stable hash of in-memory weights (for models that have no file, e.g. untrained)."""
    digest = hashlib.sha256()
    for key, value in sorted(detector.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
