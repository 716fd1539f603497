"""The mapping from an analysis (its frames, faces, scores, aggregates and verdict) to the
result schema that files, jobs, the CLI and the API return."""

from __future__ import annotations

from dataclasses import dataclass

from .audio.voice import VoiceAnalysis, VoiceScorer
from .config import Settings
from .detection.aggregate import Aggregate, Verdict
from .detection.branches import CropScores
from .detection.crop import CropSpec
from .detection.faces import Face
from .detection.fusion import Branch
from .detection.weights import WeightsManifest
from .media import LoadedMedia, MediaKind
from .schema import (
    AnalysisResult,
    AudioResult,
    AudioWindow,
    FaceResult,
    FaceThumbnail,
    MediaResult,
    ModelResult,
    PersonResult,
    SegmentResult,
    SettingsUsed,
    Timings,
    TrackBox,
)
from .thumbnails import jpeg_data_uri, pick_faces
from .verdict import VerdictPolicy


@dataclass(frozen=True)
class LoadedModel:
    """The model in force, as results and the model card report it."""

    architecture: str  # registry name
    weights_name: str  # manifest name, or "untrained"
    weights_sha256: str  # of the weights file, or of the in-memory weights when untrained
    untrained: bool
    temperature: float  # logits are divided by this before the sigmoid
    policy: VerdictPolicy
    crop: CropSpec  # how faces are cut: the weights manifest's, else the architecture's
    manifest: WeightsManifest | None


@dataclass(frozen=True)
class Analysis:
    """What the pipeline found in one file, ready to be reported."""

    media: LoadedMedia
    segments: int
    frames_per_segment: int
    faces: list[tuple[int, int, Face]]  # (frame index, track id, face), frame by frame
    scores: CropScores  # of `faces`, in order
    summary: Aggregate  # of the fused probabilities
    branch_summaries: dict[Branch, Aggregate]  # of each branch's own
    verdict: Verdict
    warnings: list[str]
    novelty: float | None  # the voting faces' median novelty
    file_name: str | None
    timings: Timings
    thumbnails: bool = False  # asked for: the result carries the faces' thumbnails
    face_verdict: Verdict | None = None  # before the voice was weighed in (None: no voice)
    audio: AudioResult | None = None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def build_result(
    analysis: Analysis, model: LoadedModel, model_result: ModelResult, settings: Settings
) -> AnalysisResult:
    info = analysis.media.info
    photo = info.kind is MediaKind.IMAGE
    summary = analysis.summary
    faces = len(summary.person_probabilities)
    real_below, fake_at = model.policy.thresholds(photo, faces)
    branches = list(analysis.scores.per_branch)
    return AnalysisResult(
        verdict=analysis.verdict,
        face_verdict=analysis.face_verdict or analysis.verdict,
        audio=analysis.audio,
        probability=_rounded(summary.probability),
        branches={
            branch.value: _rounded(s.probability) for branch, s in analysis.branch_summaries.items()
        },
        novelty=_rounded(analysis.novelty),
        file_name=analysis.file_name,
        media=MediaResult(
            type=info.kind.value,
            format=info.format,
            width=info.width,
            height=info.height,
            duration_s=info.duration_s,
            fps=info.fps,
            rotation=info.rotation,
            frames_sampled=len(analysis.media.frames),
        ),
        segments=_segment_results(analysis),
        people=_person_results(analysis, model.policy, photo, faces),
        model=model_result,
        settings=SettingsUsed(
            segments=analysis.segments,
            frames_per_segment=analysis.frames_per_segment if not photo else 1,
            real_below=real_below,
            fake_at_or_above=fake_at,
            strategy=settings.verdict.strategy,
            detect_short_side=(
                settings.faces.detect_short_side_image
                if photo
                else settings.faces.detect_short_side
            ),
            min_face_size=settings.faces.min_face_size,
            crop=model.crop,
            branches=[branch.value for branch in branches],
        ),
        timings=analysis.timings,
        warnings=analysis.warnings,
        thumbnails=_thumbnails(analysis) if analysis.thumbnails else None,
    )


def audio_result(voice: VoiceAnalysis, scorer: VoiceScorer) -> AudioResult:
    return AudioResult(
        verdict=voice.verdict.value,
        probability=voice.probability,
        speech_s=voice.speech_s,
        duration_s=voice.duration_s,
        codec=voice.codec,
        real_below=scorer.real_below,
        fake_at_or_above=scorer.fake_at_or_above,
        windows=[
            AudioWindow(
                start_s=w.start_s, end_s=w.end_s, speech_s=w.speech_s, probability=w.probability
            )
            for w in voice.windows
        ],
        model=scorer.manifest.name,
        model_sha256=scorer.manifest.sha256,
        analyse_ms=voice.elapsed_ms,
    )


def build_audio_result(
    voice: AudioResult,
    media_format: str,
    model: LoadedModel,
    model_result: ModelResult,
    settings: Settings,
    file_name: str | None,
    timings: Timings,
) -> AnalysisResult:
    """The result for an audio file: the voice's verdict, no faces."""
    real_below, fake_at = model.policy.thresholds(False)
    return AnalysisResult(
        verdict=Verdict(voice.verdict),
        face_verdict=None,
        probability=voice.probability,
        branches={},
        file_name=file_name,
        media=MediaResult(
            type="audio",
            format=media_format,
            width=0,
            height=0,
            duration_s=voice.duration_s,
            fps=None,
            rotation=0,
            frames_sampled=0,
        ),
        segments=[],
        people=[],
        model=model_result,
        settings=SettingsUsed(
            segments=0,
            frames_per_segment=0,
            real_below=real_below,
            fake_at_or_above=fake_at,
            strategy=settings.verdict.strategy,
            detect_short_side=settings.faces.detect_short_side,
            min_face_size=settings.faces.min_face_size,
            crop=model.crop,
            branches=["voice"],
        ),
        timings=timings,
        warnings=[],
        audio=voice,
    )


def _box(face: Face) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(v, 1) for v in face.box)
    return x1, y1, x2, y2


def _face_branches(scores: CropScores, index: int) -> dict[str, float]:
    return {
        branch.value: round(float(values[index]), 4) for branch, values in scores.per_branch.items()
    }


def _segment_results(analysis: Analysis) -> list[SegmentResult]:
    frames = analysis.media.frames
    duration = analysis.media.info.duration_s or 0.0
    segment_length = duration / analysis.segments if analysis.segments else 0.0
    per_segment: list[list[FaceResult]] = [[] for _ in range(analysis.segments)]
    scores = analysis.scores
    for index, ((frame_index, track_id, face), probability) in enumerate(
        zip(analysis.faces, scores.fused, strict=True)
    ):
        frame = frames[frame_index]
        per_segment[frame.segment].append(
            FaceResult(
                track_id=track_id,
                time_s=frame.time_s,
                box=_box(face),
                detection_confidence=round(face.confidence, 4),
                probability=round(float(probability), 4),
                branches=_face_branches(scores, index),
            )
        )
    return [
        SegmentResult(
            index=index,
            start_s=round(index * segment_length, 3),
            end_s=round((index + 1) * segment_length, 3),
            probability=_rounded(p),
            faces=per_segment[index],
        )
        for index, p in enumerate(analysis.summary.segment_probabilities)
    ]


def _person_results(
    analysis: Analysis, policy: VerdictPolicy, photo: bool, faces: int
) -> list[PersonResult]:
    frames = analysis.media.frames
    boxes_per_track: dict[int, list[TrackBox]] = {}
    for frame_index, track_id, face in analysis.faces:
        boxes_per_track.setdefault(track_id, []).append(
            TrackBox(time_s=frames[frame_index].time_s, box=_box(face))
        )
    summary = analysis.summary
    return [
        PersonResult(
            track_id=track_id,
            probability=round(probability, 4),
            verdict=policy.person(probability, photo, faces),
            frames=len(boxes_per_track[track_id]),
            votes=track_id in summary.voting_tracks,
            boxes=boxes_per_track[track_id],
            branches={
                branch.value: round(s.person_probabilities[track_id], 4)
                for branch, s in analysis.branch_summaries.items()
            },
        )
        for track_id, probability in summary.person_probabilities.items()
    ]


def _thumbnails(analysis: Analysis) -> list[FaceThumbnail]:
    frames = analysis.media.frames
    scores = analysis.scores
    thumbnails = []
    for index in pick_faces(analysis.faces, frames, scores.fused):
        frame_index, track_id, face = analysis.faces[index]
        thumbnails.append(
            FaceThumbnail(
                track_id=track_id,
                segment=frames[frame_index].segment,
                time_s=frames[frame_index].time_s,
                probability=round(float(scores.fused[index]), 4),
                branches=_face_branches(scores, index),
                image=jpeg_data_uri(face.crop),
            )
        )
    return thumbnails
