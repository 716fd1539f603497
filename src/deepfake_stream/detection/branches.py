"""The branches: each face crop scored by the face network and by the fusion's other branches,
calibrated by each branch's temperature and fused. Files, streams and the fusion fitting
(training.fusion) score crops through here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import FusionSettings, ModelSettings
from ..errors import ConfigError
from .engine import InferenceEngine, build_engine
from .fusion import (
    Branch,
    FusionManifest,
    NoveltyModel,
    fuse_logits,
    parse_branches,
    read_fusion_manifest,
)
from .registry import Detector, create_detector, get_spec
from .weights import WeightsManifest, load_trained_detector, state_dict_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CropScores:
    fused: np.ndarray  # (N,) the fused probability (the face branch's alone without fusion)
    per_branch: dict[Branch, np.ndarray]  # (N,) each branch's calibrated probability
    novelty: np.ndarray | None  # (N,) distance from the training faces over its threshold


def concat_scores(parts: list[CropScores], branches: list[Branch]) -> CropScores:
    """The scores of several batches of crops, in order, as one."""
    empty = np.zeros(0, np.float64)
    novelties = [part.novelty for part in parts if part.novelty is not None and len(part.fused)]
    return CropScores(
        np.concatenate([empty, *(part.fused for part in parts)]),
        {
            branch: np.concatenate([empty, *(part.per_branch[branch] for part in parts)])
            for branch in branches
        },
        np.concatenate(novelties) if novelties else None,
    )


def take_scores(scores: CropScores, indices: list[int]) -> CropScores:
    """The scores of the crops at these positions, in this order."""
    at = np.asarray(indices, dtype=np.int64)
    return CropScores(
        scores.fused[at],
        {branch: values[at] for branch, values in scores.per_branch.items()},
        None if scores.novelty is None else scores.novelty[at],
    )


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def calibrated_logits(
    engines: Mapping[Branch, InferenceEngine],
    temperatures: Mapping[Branch, float],
    crops: np.ndarray,
) -> tuple[dict[Branch, np.ndarray], np.ndarray | None]:
    """Each branch's logits of uint8 crops (N, S, S, 3) over its temperature; and the face
    branch's embeddings (None when it does not run)."""
    calibrated: dict[Branch, np.ndarray] = {}
    face_embeddings = None
    for branch, engine in engines.items():
        logits, embeddings = engine.infer(crops)
        calibrated[branch] = logits.astype(np.float64) / temperatures[branch]
        if branch is Branch.FACE:
            face_embeddings = embeddings
    return calibrated, face_embeddings


def load_face_detector(model: ModelSettings) -> tuple[Detector, WeightsManifest | None, str]:
    """The configured face detector: trained weights (verified) or the untrained one; and the
    sha256 that names its weights."""
    spec = get_spec(model.architecture)
    if model.weights is None:
        detector = create_detector(spec.name)
        return detector, None, state_dict_sha256(detector)
    detector, manifest = load_trained_detector(model.weights)
    if manifest.architecture != spec.name:
        log.warning(
            "model.architecture %s differs from the weights' %s; using the weights'",
            spec.name,
            manifest.architecture,
        )
    return detector, manifest, manifest.sha256


class BranchScorer:
    """The engines of the branches that run, their temperatures, and the fusion and novelty
    reference that join them. score() is safe to call from several threads."""

    def __init__(
        self,
        face: Detector,
        face_manifest: WeightsManifest | None,
        face_sha256: str,
        model: ModelSettings,
        fusion: FusionSettings,
    ) -> None:
        self.face_engine: InferenceEngine = build_engine(face, model, face_sha256)
        self.engines: dict[Branch, InferenceEngine] = {Branch.FACE: self.face_engine}
        self.temperatures: dict[Branch, float] = {
            Branch.FACE: face_manifest.temperature if face_manifest else 1.0
        }
        self.branch_manifests: dict[Branch, WeightsManifest] = {}  # the branches beside the face
        self.novelty: NoveltyModel | None = None
        self.fusion = self._load_fusion(fusion, model, face, face_manifest)

    def _load_fusion(
        self,
        settings: FusionSettings,
        model: ModelSettings,
        face: Detector,
        face_manifest: WeightsManifest | None,
    ) -> FusionManifest | None:
        """The fusion manifest and the engines of the other branches it names, checked."""
        branches = parse_branches(settings.branches)
        path = settings.manifest
        if path is None or face_manifest is None:
            if path is not None:
                log.warning("the face branch is untrained: fusion %s is not used", path)
            if branches != (Branch.FACE,) and path is None:
                raise ConfigError(
                    f"fusion.branches {list(branches)} need fusion.manifest; without one only "
                    "the face branch runs"
                )
            return None
        fusion = read_fusion_manifest(path)
        if fusion.face_sha256 != face_manifest.sha256:
            raise ConfigError(
                f"fusion {path} was fitted for face weights {fusion.face_sha256[:12]}, but "
                f"model.weights is {face_manifest.sha256[:12]}: use the matching pair"
            )
        for branch in branches:
            if branch is not Branch.FACE:
                self._add_branch(branch, fusion, path, model, face)
        if Branch.FACE not in branches:
            del self.engines[Branch.FACE]
        elif fusion.novelty is not None:
            self.novelty = NoveltyModel.load(
                path.parent / fusion.novelty.file, fusion.novelty.sha256
            )
        return fusion

    def _add_branch(
        self,
        branch: Branch,
        fusion: FusionManifest,
        fusion_path: Path,
        model: ModelSettings,
        face: Detector,
    ) -> None:
        if branch not in fusion.branch_manifests or branch not in fusion.weights:
            raise ConfigError(f"fusion {fusion_path} has no {branch.value} branch")
        detector, manifest = load_trained_detector(
            fusion_path.parent / fusion.branch_manifests[branch]
        )
        if detector.crop.size != face.crop.size:
            raise ConfigError(
                f"the {branch.value} branch takes {detector.crop.size}-px crops, the face "
                f"branch {face.crop.size}-px: one crop must serve both"
            )
        self.engines[branch] = build_engine(detector, model, manifest.sha256)
        self.temperatures[branch] = manifest.temperature
        self.branch_manifests[branch] = manifest

    @property
    def branches(self) -> list[Branch]:
        return list(self.engines)

    def score(self, crops: np.ndarray) -> CropScores:
        """Fused and per-branch calibrated fake probabilities of uint8 crops (N, S, S, 3), and
        how unlike the training faces each is."""
        empty = np.zeros(0, np.float64)
        if not len(crops):
            return CropScores(empty, {branch: empty for branch in self.engines}, None)
        calibrated, embeddings = calibrated_logits(self.engines, self.temperatures, crops)
        novelty = None
        if self.novelty is not None and embeddings is not None:
            assert self.fusion is not None and self.fusion.novelty is not None
            novelty = self.novelty.distances(embeddings) / self.fusion.novelty.threshold
        per_branch = {branch: sigmoid(z) for branch, z in calibrated.items()}
        if self.fusion is None:
            return CropScores(per_branch[Branch.FACE], per_branch, novelty)
        fused = fuse_logits(calibrated, self.fusion.weights, self.fusion.temperature)
        return CropScores(sigmoid(fused), per_branch, novelty)

    def close(self) -> None:
        # The face engine stays open even when its branch is not run: close each engine once.
        for engine in {id(e): e for e in (self.face_engine, *self.engines.values())}.values():
            engine.close()
