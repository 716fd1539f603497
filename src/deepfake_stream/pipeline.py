"""The analysis pipeline: media -> faces -> tracks -> classifier -> aggregation -> result."""

from __future__ import annotations

import itertools
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio.voice import load_voice_scorer
from .config import AnalysisOptions, Settings
from .deadline import Deadline
from .detection.aggregate import Aggregate, ScoredFace, aggregate
from .detection.background import BackgroundScoring
from .detection.branches import BranchScorer, CropScores, load_face_detector
from .detection.crop import Box
from .detection.faces import (
    ConfirmedTracker,
    Face,
    FaceDetector,
    assign_tracks,
    keep_confirmed_tracks,
)
from .detection.fusion import Branch, FusionManifest
from .detection.search import FaceSearch
from .detection.weights import WeightsManifest
from .errors import EmptyMediaError, MediaError, UnsupportedMediaTypeError
from .media import (
    LoadedMedia,
    MediaKind,
    Picture,
    SampledFrame,
    check_size,
    load_media,
    sniff_file,
    without_video,
)
from .memory import release_free_memory, tune_allocator
from .result import Analysis, LoadedModel, audio_result, build_audio_result, build_result
from .schema import AnalysisResult, AudioResult, BranchWeights, ModelResult, Timings
from .verdict import policy_for, weigh_voice

log = logging.getLogger(__name__)

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class FrameFace:
    """A face in one live frame, on its track across the stream's frames."""

    track_id: int
    box: Box
    detection_confidence: float
    probability: float  # fused
    branches: dict[Branch, float]  # each branch's own probability
    novelty: float | None  # distance from the training faces over its threshold (with a fusion)


class Analyzer:
    """Loads the models once; analyze() is then safe to call from several threads."""

    def __init__(self, settings: Settings) -> None:
        tune_allocator()
        self.settings = settings
        detector, manifest, weights_sha = load_face_detector(settings.model)
        # Faces are cut as the weights' training crops were; untrained: the architecture's crop.
        crop = detector.crop if manifest is None else manifest.crop
        self.scorer = BranchScorer(detector, manifest, weights_sha, settings.model, settings.fusion)
        self.engine = self.scorer.face_engine
        self.fusion = self.scorer.fusion
        # Thresholds: the config's, else the fusion's, else the face weights' own.
        self.thresholds_manifest: FusionManifest | WeightsManifest | None = (
            self.fusion if self.fusion is not None else manifest
        )
        self.model = LoadedModel(
            architecture=detector.spec.name,
            weights_name=manifest.name if manifest else "untrained",
            weights_sha256=weights_sha,
            untrained=manifest is None,
            temperature=self.scorer.temperatures[Branch.FACE],
            policy=policy_for(settings.verdict, self.thresholds_manifest),
            crop=crop,
            manifest=manifest,
        )
        self._decoders = ThreadPoolExecutor(
            max_workers=max(2, settings.server.max_concurrent), thread_name_prefix="dfs-decode"
        )
        self._classifiers = ThreadPoolExecutor(
            max_workers=max(1, settings.server.max_concurrent), thread_name_prefix="dfs-classify"
        )
        self.faces = FaceDetector(settings.faces, crop, device=settings.model.devices[0])
        self.voice = load_voice_scorer(settings.voice)

    @property
    def branches(self) -> list[Branch]:
        return self.scorer.branches

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
            branch_weights=[
                BranchWeights(
                    branch=branch.value,
                    weights_name=manifest.name,
                    weights_sha256=manifest.sha256,
                    temperature=manifest.temperature,
                )
                for branch, manifest in self.scorer.branch_manifests.items()
            ],
        )

    def score_crops(self, crops: np.ndarray) -> CropScores:
        """Fused and per-branch calibrated fake probabilities of uint8 crops (N, S, S, 3), and
        how unlike the training faces each is."""
        return self.scorer.score(crops)

    def face_search(self, photo: bool = False) -> FaceSearch:
        """A fresh search across one video's samples or one stream's frames, or of a photo:
        at its finer size, looked at first at the videos' size (detect_coarse_first)."""
        faces = self.settings.faces
        if photo:
            return FaceSearch(self.faces, faces.detect_short_side_image, faces.detect_short_side)
        return FaceSearch(self.faces, faces.detect_short_side)

    def analyze_frame(
        self, picture: Picture, time_s: float, search: FaceSearch, tracker: ConfirmedTracker
    ) -> list[FrameFace]:
        """One frame of a live stream: its faces (found by `search`, which follows the stream's
        faces from frame to frame) on confirmed tracks, linked by `tracker` to the stream's
        earlier frames, with their scores. The same detector, search, track rule and branches
        as files; streams.state judges them with the same verdict policy."""
        (found,) = search.find([(picture, time_s)])
        kept = tracker.update(found)
        if not kept:
            return []
        scores = self.score_crops(np.stack([face.crop for face, _ in kept]))
        return [
            FrameFace(
                track_id=track_id,
                box=face.box,
                detection_confidence=face.confidence,
                probability=float(scores.fused[index]),
                branches={
                    branch: float(values[index]) for branch, values in scores.per_branch.items()
                },
                novelty=None if scores.novelty is None else float(scores.novelty[index]),
            )
            for index, (face, track_id) in enumerate(kept)
        ]

    def close(self) -> None:
        self.scorer.close()
        self._decoders.shutdown(wait=True)
        self._classifiers.shutdown(wait=True)

    def analyze(
        self,
        path: Path,
        options: AnalysisOptions | None = None,
        file_name: str | None = None,
        on_progress: StageProgress | None = None,
    ) -> AnalysisResult:
        sampling = (options or AnalysisOptions()).sampling(self.settings.sampling)
        started = time.perf_counter()
        deadline = Deadline.starting_now(self.settings.limits.max_analysis_s)
        media_type = without_video(path, sniff_file(path))  # wrong types fail before any work
        if media_type.kind is MediaKind.AUDIO:
            return self._analyze_audio(path, media_type.format, file_name, deadline, on_progress)
        is_image = media_type.kind is MediaKind.IMAGE
        # Decoding runs in a worker thread; frames are detected in batches as they arrive, so
        # the decoder's and the detector's idle moments fill each other's.
        arrivals: queue.SimpleQueue[SampledFrame | None] = queue.SimpleQueue()
        decode_finished = [started]

        decoded = itertools.count(1)
        wanted_frames = [0]  # how many frames the decoder will deliver, once it knows

        def on_frame(frame: SampledFrame, wanted: int) -> None:
            wanted_frames[0] = wanted
            arrivals.put(frame)
            if on_progress is not None:  # the queue's size shrinks as detection takes frames
                on_progress("decode", next(decoded), wanted)

        def decode() -> LoadedMedia:
            try:
                media = load_media(
                    path, self.settings.limits, sampling, on_frame, deadline, media_type
                )
                # Fewer frames than asked for (a short video): these are all there will be.
                wanted_frames[0] = len(media.frames)
                if on_progress is not None:
                    on_progress("decode", len(media.frames), len(media.frames))
                return media
            finally:
                decode_finished[0] = time.perf_counter()
                arrivals.put(None)

        decoding = self._decoders.submit(decode)
        # The sound track is heard while the frames are decoded and their faces detected.
        listening = None if is_image else self._decoders.submit(self._listen, path, deadline)
        scoring = BackgroundScoring(self._classifiers, self.score_crops)
        detected = [0]

        def on_batch(faces_per_frame: list[list[Face]]) -> None:
            scoring.submit(faces_per_frame)
            detected[0] += len(faces_per_frame)
            if on_progress is not None:  # the stages overlap: each is reported as it moves
                on_progress("detect", detected[0], max(wanted_frames[0], detected[0]))
                on_progress("classify", *scoring.counts())

        try:
            faces_per_frame, detect_seconds = self._detect_as_decoded(
                arrivals, is_image, deadline, on_batch
            )
        finally:  # detection timed out: the decoder stops at its next check of the deadline
            wait([decoding])
            if listening is not None:
                wait([listening])
            scoring.wait()
        media = decoding.result()  # raises the media error, if decoding failed
        voice, voice_warnings = (None, []) if listening is None else listening.result()
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
        if on_progress is not None:
            for scored, submitted in scoring.finishing():
                on_progress("classify", scored, submitted)
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
            thumbnails=options is not None and options.thumbnails,
            voice=voice,
            voice_warnings=voice_warnings,
        )

    def _listen(self, path: Path, deadline: Deadline) -> tuple[AudioResult | None, list[str]]:
        """The voice branch's reading of a video's sound track. A sound track that cannot be
        decoded does not sink the video's analysis: the result says so instead."""
        if self.voice is None:
            return None, []
        try:
            voice = self.voice.analyze_file(path, self.settings.limits, deadline)
        except MediaError as exc:
            return None, [f"the sound track was not judged: {exc}"]
        return (None if voice is None else audio_result(voice, self.voice)), []

    def _analyze_audio(
        self,
        path: Path,
        media_format: str,
        file_name: str | None,
        deadline: Deadline,
        on_progress: StageProgress | None,
    ) -> AnalysisResult:
        started = time.perf_counter()
        if self.voice is None:
            raise UnsupportedMediaTypeError(
                "the file holds audio only, and the voice branch is off (voice.enabled)"
            )
        check_size(path, self.settings.limits)
        if on_progress is not None:
            on_progress("decode", 0, 1)
        voice = self.voice.analyze_file(path, self.settings.limits, deadline)
        if voice is None:  # sniffed as audio, yet no audio stream: nothing to judge
            raise EmptyMediaError("the file holds no audio track")
        if on_progress is not None:
            on_progress("classify", 1, 1)
        total_ms = round((time.perf_counter() - started) * 1000, 1)
        return build_audio_result(
            audio_result(voice, self.voice),
            media_format,
            self.model,
            self.model_result(),
            self.settings,
            file_name,
            Timings(
                decode_ms=round(total_ms - voice.elapsed_ms, 1),
                detect_ms=0.0,
                classify_ms=voice.elapsed_ms,
                total_ms=total_ms,
            ),
        )

    def _detect_as_decoded(
        self,
        arrivals: queue.SimpleQueue[SampledFrame | None],
        photo: bool,
        deadline: Deadline,
        on_batch: Callable[[list[list[Face]]], None],
    ) -> tuple[list[list[Face]], float]:
        """Faces for each frame from the queue (in order) until None, each batch's also handed
        to on_batch as soon as found; and the seconds spent."""
        found: list[list[Face]] = []
        waiting: list[SampledFrame] = []
        search = self.face_search(photo)
        busy = 0.0
        while True:
            frame = arrivals.get()
            if frame is not None:
                waiting.append(frame)
            if waiting and (frame is None or len(waiting) >= self.settings.faces.detect_batch_size):
                began = time.perf_counter()
                batch = search.find([(f.picture, f.time_s) for f in waiting])
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
        thumbnails: bool = False,
        voice: AudioResult | None = None,
        voice_warnings: list[str] | None = None,
    ) -> AnalysisResult:
        frames = media.frames

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

        summary = summarise(scores.fused)
        branch_summaries = {branch: summarise(v) for branch, v in scores.per_branch.items()}
        novelty = voting_novelty(flat, scores.novelty, summary)
        verdict, warnings = self.model.policy.judge(
            summary.probability,
            {branch: s.probability for branch, s in branch_summaries.items()},
            novelty,
            photo=media.info.kind is MediaKind.IMAGE,
            faces=len(summary.person_probabilities),
        )
        face_verdict = verdict
        if voice is not None:
            verdict, weighed = weigh_voice(face_verdict, voice.verdict)
            warnings = [*warnings, *weighed]
        analysis = Analysis(
            media=media,
            segments=segments,
            frames_per_segment=frames_per_segment,
            faces=flat,
            scores=scores,
            summary=summary,
            branch_summaries=branch_summaries,
            verdict=verdict,
            warnings=[*media.warnings, *warnings, *(voice_warnings or [])],
            novelty=novelty,
            file_name=file_name,
            timings=timings,
            thumbnails=thumbnails,
            face_verdict=face_verdict,
            audio=voice,
        )
        return build_result(analysis, self.model, self.model_result(), self.settings)


def voting_novelty(
    faces: list[tuple[int, int, Face]], novelty: np.ndarray | None, summary: Aggregate
) -> float | None:
    """The median novelty of the faces on voting tracks (None without a novelty reference)."""
    if novelty is None:
        return None
    voting = [
        value
        for (_, track_id, _), value in zip(faces, novelty, strict=True)
        if track_id in summary.voting_tracks
    ]
    return float(np.median(voting)) if voting else None
