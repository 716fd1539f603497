"""The analysis pipeline: media -> faces -> tracks -> classifier -> aggregation -> result."""

from __future__ import annotations

import ctypes
import itertools
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Settings
from .deadline import Deadline
from .detection.aggregate import Aggregate, ScoredFace, Verdict, aggregate, verdict_for
from .detection.engine import InferenceEngine, build_engine
from .detection.faces import (
    Box,
    Face,
    FaceDetector,
    Tracker,
    assign_tracks,
    keep_confirmed_tracks,
)
from .detection.fusion import (
    Branch,
    FusionManifest,
    NoveltyModel,
    disagreement_warning,
    fuse_logits,
    novelty_warning,
    parse_branches,
    read_fusion_manifest,
)
from .detection.registry import Detector, create_detector, get_spec
from .detection.weights import (
    UNTRAINED_THRESHOLDS,
    WeightsManifest,
    load_trained_detector,
    state_dict_sha256,
)
from .errors import ConfigError
from .media import LoadedMedia, MediaKind, Picture, SampledFrame, load_media, sniff_file
from .schema import (
    AnalysisResult,
    BranchWeights,
    FaceResult,
    MediaResult,
    ModelResult,
    PersonResult,
    SegmentResult,
    SettingsUsed,
    Timings,
    TrackBox,
)

log = logging.getLogger(__name__)

UNTRAINED_WARNING = (
    "untrained model: no trained weights are loaded, so the probabilities carry no meaning "
    "and the verdict is never real or fake"
)

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class AnalysisOptions:
    segments: int | None = None  # overrides sampling.segments for this request
    frames_per_segment: int | None = None  # overrides sampling.frames_per_segment


@dataclass(frozen=True)
class LoadedModel:
    architecture: str  # registry name
    weights_name: str  # manifest name, or "untrained"
    weights_sha256: str  # of the weights file, or of the in-memory weights when untrained
    untrained: bool
    temperature: float  # logits are divided by this before the sigmoid
    real_below: float  # verdict thresholds in force (real_below: videos and streams)
    photo_real_below: float  # below which a photo is real; never above real_below
    fake_at_or_above: float
    photo_fake_at_or_above: float  # at or above which a photo is fake; never below the above
    # The real threshold chosen on validation, when a calibration on methods outside the
    # training data lowered it (and the config does not override it); else None.
    validation_real_below: float | None
    crop_margin: float  # face crop geometry in force (see faces.square_crop_box)
    crop_offset_y: float
    max_native_side: int | None  # face regions wider than this are reduced to it first
    crop_jpeg_quality: int | None  # crops are JPEG-encoded at this quality last
    manifest: WeightsManifest | None


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


class BackgroundScoring:
    """Classifies each detection batch's faces on a worker thread while the next batch is
    detected, then gives back the scores of the faces that survive tracking.

    Detection waits on decoding and classification waited on detection; overlapped, each
    fills the other's idle moments (a 10 s 1080p clip with two branches: see README)."""

    def __init__(
        self, executor: ThreadPoolExecutor, score: Callable[[np.ndarray], CropScores]
    ) -> None:
        self._executor = executor
        self._score = score
        self._position: dict[int, int] = {}  # id(face) -> its index among all scored crops
        self._faces: list[Face] = []  # keeps every scored face alive while its id() is a key
        self._pending: list[Future[tuple[CropScores, float]]] = []  # (scores, seconds taken)

    def submit(self, faces_per_frame: list[list[Face]]) -> None:
        faces = [face for frame_faces in faces_per_frame for face in frame_faces]
        if not faces:
            return
        for face in faces:
            self._position[id(face)] = len(self._faces)
            self._faces.append(face)
        crops = np.stack([face.crop for face in faces])
        self._pending.append(self._executor.submit(self._timed, crops))

    def _timed(self, crops: np.ndarray) -> tuple[CropScores, float]:
        began = time.perf_counter()
        return self._score(crops), time.perf_counter() - began

    def wait(self) -> None:
        """Let the submitted batches finish (when an analysis is abandoned, too)."""
        wait(self._pending)

    @property
    def busy_seconds(self) -> float:
        """Seconds the classifier spent on the finished batches."""
        return sum(future.result()[1] for future in self._pending if future.done())

    def scores_of(self, faces: list[Face], branches: list[Branch]) -> CropScores:
        """The scores of these faces (each submitted earlier), in this order."""
        everything = concat_scores([future.result()[0] for future in self._pending], branches)
        return take_scores(everything, [self._position[id(face)] for face in faces])


@dataclass(frozen=True)
class FrameFace:
    """A face in one live frame, on its track across the stream's frames."""

    track_id: int
    box: Box
    detection_confidence: float
    probability: float  # fused
    branches: dict[str, float]  # each branch's own probability


def _load_malloc_trim() -> Callable[[], None]:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to release
        return lambda: None

    def release() -> None:
        libc.malloc_trim(0)

    return release


# glibc keeps freed frame-sized buffers in its heaps; without handing them back after each
# analysis, the service's RSS crept up by ~700 MB over a few dozen videos.
release_free_memory = _load_malloc_trim()


def calibrated_real_warning(
    probability: float | None,
    real_below: float,
    validation_real_below: float | None,
    photo: bool = False,
) -> str | None:
    """Why a file the validation threshold would call real is `uncertain`: the real
    threshold (of photos, or of videos) was calibrated on methods the model was not trained
    on (training/calibrate)."""
    if probability is None or validation_real_below is None:
        return None
    if not real_below <= probability < validation_real_below:
        return None
    unseen = "generated faces score" if photo else "methods it was not trained on score"
    return (
        f"no sign of the manipulations the model was trained on (probability {probability:.3f}"
        f", under the {validation_real_below:.3f} chosen on validation), but {unseen} this low "
        f"too: only below {real_below:.3g} is {'a photo' if photo else 'the verdict'} real"
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def load_detector(settings: Settings) -> tuple[Detector, WeightsManifest | None, str]:
    """The configured detector: trained weights (verified) or the untrained one; and the
    sha256 that names its weights."""
    spec = get_spec(settings.model.architecture)
    if settings.model.weights is None:
        detector = create_detector(spec.name)
        return detector, None, state_dict_sha256(detector)
    detector, manifest = load_trained_detector(settings.model.weights)
    if manifest.architecture != spec.name:
        log.warning(
            "model.architecture %s differs from the weights' %s; using the weights'",
            spec.name,
            manifest.architecture,
        )
    return detector, manifest, manifest.sha256


class Analyzer:
    """Loads the models once; analyze() is then safe to call from several threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        detector, manifest, weights_sha = load_detector(settings)
        # The crop geometry the weights were trained with wins over the config's.
        face_settings = (
            settings.faces
            if manifest is None
            else settings.faces.model_copy(
                update={
                    "margin": manifest.crop_margin,
                    "crop_offset_y": manifest.crop_offset_y,
                    "max_native_side": manifest.max_native_side,
                    "crop_jpeg_quality": manifest.crop_jpeg_quality,
                }
            )
        )
        self.branch_weights: list[BranchWeights] = []
        self.novelty: NoveltyModel | None = None
        self.engine: InferenceEngine = build_engine(detector, settings.model, weights_sha)
        self.engines: dict[Branch, InferenceEngine] = {Branch.FACE: self.engine}
        self.temperatures: dict[Branch, float] = {
            Branch.FACE: manifest.temperature if manifest else 1.0
        }
        self.fusion = self._load_fusion(settings, detector, manifest)
        # Thresholds: the config's, else the fusion's, else the face weights' own.
        self.thresholds_manifest: FusionManifest | WeightsManifest | None = (
            self.fusion if self.fusion is not None else manifest
        )
        source = self.thresholds_manifest
        real_below, fake_at = (
            (source.thresholds.real_below, source.thresholds.fake_at_or_above)
            if source is not None
            else UNTRAINED_THRESHOLDS
        )
        photo_real_below, photo_fake_at = (
            (
                source.thresholds.photo_real_below_in_force(),
                source.thresholds.photo_fake_at_or_above_in_force(),
            )
            if source is not None
            else (real_below, fake_at)
        )
        # Either calibration records the threshold chosen on validation that it lowered.
        calibration = (
            (source.calibration or source.photo_calibration) if source is not None else None
        )
        override = settings.verdict.real_below
        if override is not None:  # the config's overrides both
            real_below = photo_real_below = override
        if settings.verdict.fake_at_or_above is not None:  # likewise
            fake_at = photo_fake_at = settings.verdict.fake_at_or_above
        self.model = LoadedModel(
            architecture=detector.spec.name,
            weights_name=manifest.name if manifest else "untrained",
            weights_sha256=weights_sha,
            untrained=manifest is None,
            temperature=self.temperatures[Branch.FACE],
            real_below=real_below,
            photo_real_below=photo_real_below,
            fake_at_or_above=fake_at,
            photo_fake_at_or_above=photo_fake_at,
            validation_real_below=calibration.validation_real_below
            if calibration is not None and override is None
            else None,
            crop_margin=face_settings.margin,
            crop_offset_y=face_settings.crop_offset_y,
            max_native_side=face_settings.max_native_side,
            crop_jpeg_quality=face_settings.crop_jpeg_quality,
            manifest=manifest,
        )
        if self.model.real_below > self.model.fake_at_or_above:
            raise ConfigError("verdict thresholds: real_below must not exceed fake_at_or_above")
        self._decoders = ThreadPoolExecutor(
            max_workers=max(2, settings.server.max_concurrent), thread_name_prefix="dfs-decode"
        )
        self._classifiers = ThreadPoolExecutor(
            max_workers=max(1, settings.server.max_concurrent), thread_name_prefix="dfs-classify"
        )
        self.faces = FaceDetector(
            face_settings,
            crop_size=detector.preprocessing.input_size,
            device=settings.model.devices[0],
        )

    def _load_fusion(
        self, settings: Settings, face: Detector, face_manifest: WeightsManifest | None
    ) -> FusionManifest | None:
        """The fusion manifest and the engines of the other branches it names, checked."""
        branches = parse_branches(settings.fusion.branches)
        path = settings.fusion.manifest
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
            if branch is Branch.FACE:
                continue
            if branch not in fusion.branch_manifests or branch not in fusion.weights:
                raise ConfigError(f"fusion {path} has no {branch.value} branch")
            detector, manifest = load_trained_detector(
                path.parent / fusion.branch_manifests[branch]
            )
            if detector.preprocessing.input_size != face.preprocessing.input_size:
                raise ConfigError(
                    f"the {branch.value} branch takes {detector.preprocessing.input_size}-px "
                    f"crops, the face branch {face.preprocessing.input_size}-px: one crop "
                    "must serve both"
                )
            self.engines[branch] = build_engine(detector, settings.model, manifest.sha256)
            self.temperatures[branch] = manifest.temperature
            self.branch_weights.append(
                BranchWeights(
                    branch=branch.value,
                    weights_name=manifest.name,
                    weights_sha256=manifest.sha256,
                    temperature=manifest.temperature,
                )
            )
        if Branch.FACE not in branches:
            del self.engines[Branch.FACE]
        elif fusion.novelty is not None:
            self.novelty = NoveltyModel.load(
                path.parent / fusion.novelty.file, fusion.novelty.sha256
            )
        return fusion

    @property
    def branches(self) -> list[Branch]:
        return list(self.engines)

    def model_result(self) -> ModelResult:
        """Which model produced a result (also the core of the API's model card)."""
        return ModelResult(
            architecture=self.model.architecture,
            weights_name=self.model.weights_name,
            weights_sha256=self.model.weights_sha256,
            untrained=self.model.untrained,
            engine=self.engine.name,
            devices=self.engine.devices,
            temperature=self.model.temperature,
            branches=[branch.value for branch in self.branches],
            fusion=None if self.fusion is None else self.fusion.name,
            branch_weights=self.branch_weights,
        )

    def score_crops(self, crops: np.ndarray) -> CropScores:
        """Fused and per-branch calibrated fake probabilities of uint8 crops (N, S, S, 3), and
        how unlike the training faces each is."""
        empty = np.zeros(0, np.float64)
        if not len(crops):
            return CropScores(empty, {branch: empty for branch in self.engines}, None)
        calibrated: dict[Branch, np.ndarray] = {}
        novelty = None
        for branch, engine in self.engines.items():
            logits, embeddings = engine.infer(crops)
            calibrated[branch] = logits.astype(np.float64) / self.temperatures[branch]
            if branch is Branch.FACE and self.novelty is not None:
                assert self.fusion is not None and self.fusion.novelty is not None
                novelty = self.novelty.distances(embeddings) / self.fusion.novelty.threshold
        per_branch = {branch: _sigmoid(z) for branch, z in calibrated.items()}
        if self.fusion is None:
            return CropScores(per_branch[Branch.FACE], per_branch, novelty)
        fused = fuse_logits(calibrated, self.fusion.weights, self.fusion.temperature)
        return CropScores(_sigmoid(fused), per_branch, novelty)

    def analyze_frame(self, picture: Picture, tracker: Tracker) -> list[FrameFace]:
        """One frame of a live stream: its faces, linked by `tracker` to the stream's earlier
        frames, with their probabilities. The same detector, tracker and branches as files."""
        (found,) = self.faces.detect([picture], self.settings.faces.detect_short_side)
        faces = [face for face in found if face.confidence >= self.settings.faces.min_confidence]
        ids = tracker.update([face.box for face in faces])
        if not faces:
            return []
        scores = self.score_crops(np.stack([face.crop for face in faces]))
        return [
            FrameFace(
                track_id=track_id,
                box=face.box,
                detection_confidence=face.confidence,
                probability=float(scores.fused[index]),
                branches={
                    branch.value: float(values[index])
                    for branch, values in scores.per_branch.items()
                },
            )
            for index, (face, track_id) in enumerate(zip(faces, ids, strict=True))
        ]

    def close(self) -> None:
        # The face engine stays open even when its branch is not run: close each engine once.
        for engine in {id(e): e for e in (self.engine, *self.engines.values())}.values():
            engine.close()
        self._decoders.shutdown(wait=True)
        self._classifiers.shutdown(wait=True)

    def analyze(
        self,
        path: Path,
        options: AnalysisOptions | None = None,
        file_name: str | None = None,
        on_progress: StageProgress | None = None,
    ) -> AnalysisResult:
        options = options or AnalysisOptions()
        sampling = self.settings.sampling.model_copy(
            update={
                key: value
                for key, value in (
                    ("segments", options.segments),
                    ("frames_per_segment", options.frames_per_segment),
                )
                if value is not None
            }
        )
        started = time.perf_counter()
        deadline = Deadline.starting_now(self.settings.limits.max_analysis_s)
        is_image = sniff_file(path).kind is MediaKind.IMAGE  # wrong types fail before any work
        short_side = (
            self.settings.faces.detect_short_side_image
            if is_image
            else self.settings.faces.detect_short_side
        )
        # Decoding runs in a worker thread; frames are detected in batches as they arrive, so
        # the decoder's and the detector's idle moments fill each other's.
        arrivals: queue.SimpleQueue[SampledFrame | None] = queue.SimpleQueue()
        decode_finished = [started]

        decoded = itertools.count(1)

        def on_frame(frame: SampledFrame, wanted: int) -> None:
            arrivals.put(frame)
            if on_progress is not None:  # the queue's size shrinks as detection takes frames
                on_progress("decode", next(decoded), wanted)

        def decode() -> LoadedMedia:
            try:
                return load_media(path, self.settings.limits, sampling, on_frame, deadline)
            finally:
                decode_finished[0] = time.perf_counter()
                arrivals.put(None)

        decoding = self._decoders.submit(decode)
        scoring = BackgroundScoring(self._classifiers, self.score_crops)
        try:
            faces_per_frame, detect_seconds = self._detect_as_decoded(
                arrivals, short_side, deadline, scoring.submit
            )
        finally:  # detection timed out: the decoder stops at its next check of the deadline
            wait([decoding])
            scoring.wait()
        media = decoding.result()  # raises the media error, if decoding failed
        tracks = assign_tracks([[face.box for face in faces] for faces in faces_per_frame])
        faces_per_frame, tracks = keep_confirmed_tracks(
            faces_per_frame, tracks, self.settings.faces.min_confidence
        )
        if on_progress is not None:
            on_progress("detect", len(media.frames), len(media.frames))
        deadline.check("detecting faces")

        flat: list[tuple[int, int, Face]] = [
            (frame_index, track_id, face)
            for frame_index, (faces, ids) in enumerate(zip(faces_per_frame, tracks, strict=True))
            for face, track_id in zip(faces, ids, strict=True)
        ]
        scores = scoring.scores_of([face for _, _, face in flat], self.branches)
        if on_progress is not None:
            on_progress("classify", len(flat), len(flat))
        classified = time.perf_counter()
        release_free_memory()

        return self._result(
            media,
            sampling.segments if not is_image else 1,
            sampling.frames_per_segment,
            flat,
            scores,
            file_name,
            Timings(
                decode_ms=round((decode_finished[0] - started) * 1000, 1),
                detect_ms=round(detect_seconds * 1000, 1),
                classify_ms=round(scoring.busy_seconds * 1000, 1),
                total_ms=round((classified - started) * 1000, 1),
            ),
        )

    def _detect_as_decoded(
        self,
        arrivals: queue.SimpleQueue[SampledFrame | None],
        short_side: int,
        deadline: Deadline,
        on_batch: Callable[[list[list[Face]]], None],
    ) -> tuple[list[list[Face]], float]:
        """Faces for each frame from the queue (in order) until None, each batch's also handed
        to on_batch as soon as found; and the seconds spent."""
        found: list[list[Face]] = []
        waiting: list[SampledFrame] = []
        busy = 0.0
        while True:
            frame = arrivals.get()
            if frame is not None:
                waiting.append(frame)
            if waiting and (frame is None or len(waiting) >= self.settings.faces.detect_batch_size):
                began = time.perf_counter()
                batch = self.faces.detect([f.picture for f in waiting], short_side)
                busy += time.perf_counter() - began
                on_batch(batch)
                found.extend(batch)
                for done in waiting:  # the crops are cut: 32 4K frames would hold 400 MB
                    done.picture.release()
                waiting = []
                deadline.check("detecting faces")
            if frame is None:
                return found, busy

    def _result(
        self,
        media: LoadedMedia,
        segments: int,
        frames_per_segment: int,
        flat: list[tuple[int, int, Face]],
        scores: CropScores,
        file_name: str | None,
        timings: Timings,
    ) -> AnalysisResult:
        frames = media.frames
        probabilities, per_branch = scores.fused, scores.per_branch

        def summarise(values: np.ndarray) -> Aggregate:
            scored = [
                ScoredFace(frame_index, frames[frame_index].segment, track_id, float(value))
                for (frame_index, track_id, _), value in zip(flat, values, strict=True)
            ]
            return aggregate(
                scored,
                frames_sampled=len(frames),
                segments=segments,
                strategy=self.settings.verdict.strategy,
                min_track_share=self.settings.verdict.min_track_share,
            )

        summary = summarise(probabilities)
        branch_summaries = {branch: summarise(values) for branch, values in per_branch.items()}
        photo = media.info.kind is MediaKind.IMAGE
        thresholds = (
            (self.model.photo_real_below, self.model.photo_fake_at_or_above)
            if photo
            else (self.model.real_below, self.model.fake_at_or_above)
        )
        real_below = thresholds[0]
        verdict = verdict_for(summary.probability, *thresholds)
        warnings = list(media.warnings)
        unvouched = calibrated_real_warning(
            summary.probability, real_below, self.model.validation_real_below, photo
        )
        if unvouched is not None:
            warnings.append(unvouched)
        novelty = None
        if scores.novelty is not None:
            voting = [
                value
                for (_, track_id, _), value in zip(flat, scores.novelty, strict=True)
                if track_id in summary.voting_tracks
            ]
            novelty = float(np.median(voting)) if voting else None
        if self.fusion is not None and verdict in (Verdict.REAL, Verdict.FAKE):
            abstain = disagreement_warning(
                {branch: s.probability for branch, s in branch_summaries.items()},
                self.fusion.disagreement,
            ) or novelty_warning(novelty)
            if abstain is not None:
                warnings.append(abstain)
                verdict = Verdict.UNCERTAIN
        if self.model.untrained:
            warnings.append(UNTRAINED_WARNING)
            if verdict is not Verdict.NO_FACE:
                verdict = Verdict.UNCERTAIN

        duration = media.info.duration_s or 0.0
        segment_length = duration / segments if segments else 0.0
        face_results: list[list[FaceResult]] = [[] for _ in range(segments)]
        boxes_per_track: dict[int, list[TrackBox]] = {}
        for index, ((frame_index, track_id, face), probability) in enumerate(
            zip(flat, probabilities, strict=True)
        ):
            frame = frames[frame_index]
            box = tuple(round(v, 1) for v in face.box)
            face_results[frame.segment].append(
                FaceResult(
                    track_id=track_id,
                    time_s=frame.time_s,
                    box=box,  # type: ignore[arg-type]
                    detection_confidence=round(face.confidence, 4),
                    probability=round(float(probability), 4),
                    branches={
                        branch.value: round(float(values[index]), 4)
                        for branch, values in per_branch.items()
                    },
                )
            )
            boxes_per_track.setdefault(track_id, []).append(
                TrackBox(time_s=frame.time_s, box=box)  # type: ignore[arg-type]
            )
        segment_results = [
            SegmentResult(
                index=index,
                start_s=round(index * segment_length, 3),
                end_s=round((index + 1) * segment_length, 3),
                probability=None if p is None else round(p, 4),
                faces=face_results[index],
            )
            for index, p in enumerate(summary.segment_probabilities)
        ]
        people = [
            PersonResult(
                track_id=track_id,
                probability=round(probability, 4),
                verdict=(
                    Verdict.UNCERTAIN
                    if self.model.untrained
                    else verdict_for(probability, *thresholds)
                ),
                frames=len(boxes_per_track[track_id]),
                votes=track_id in summary.voting_tracks,
                boxes=boxes_per_track[track_id],
                branches={
                    branch.value: round(s.person_probabilities[track_id], 4)
                    for branch, s in branch_summaries.items()
                },
            )
            for track_id, probability in summary.person_probabilities.items()
        ]
        info = media.info
        return AnalysisResult(
            verdict=verdict,
            probability=None if summary.probability is None else round(summary.probability, 4),
            branches={
                branch.value: None if s.probability is None else round(s.probability, 4)
                for branch, s in branch_summaries.items()
            },
            novelty=None if novelty is None else round(novelty, 4),
            file_name=file_name,
            media=MediaResult(
                type=info.kind.value,
                format=info.format,
                width=info.width,
                height=info.height,
                duration_s=info.duration_s,
                fps=info.fps,
                rotation=info.rotation,
                frames_sampled=len(frames),
            ),
            segments=segment_results,
            people=people,
            model=self.model_result(),
            settings=SettingsUsed(
                segments=segments,
                frames_per_segment=frames_per_segment if info.kind is MediaKind.VIDEO else 1,
                real_below=thresholds[0],
                fake_at_or_above=thresholds[1],
                strategy=self.settings.verdict.strategy,
                detect_short_side=(
                    self.settings.faces.detect_short_side
                    if info.kind is MediaKind.VIDEO
                    else self.settings.faces.detect_short_side_image
                ),
                min_face_size=self.settings.faces.min_face_size,
                crop_margin=self.model.crop_margin,
                crop_offset_y=self.model.crop_offset_y,
                max_native_side=self.model.max_native_side,
                crop_jpeg_quality=self.model.crop_jpeg_quality,
                branches=[branch.value for branch in self.branches],
            ),
            timings=timings,
            warnings=warnings,
        )
