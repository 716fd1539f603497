"""The analysis result: a versioned JSON schema shared by the CLI and the API.

Boxes are [x1, y1, x2, y2] in pixels of the upright (rotation-corrected) frame; times are
seconds from the start of the video. Probabilities are calibrated probabilities that the
face (segment, person, media) is fake.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .detection.aggregate import Verdict
from .detection.crop import CropSpec
from .thumbnails import MAX_THUMBNAILS, THUMBNAIL_SIDE

BoxList = tuple[float, float, float, float]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaceResult(_Schema):
    track_id: int = Field(description="Person this face belongs to (see people).")
    time_s: float = Field(description="Time of the sampled frame.")
    box: BoxList = Field(description="Face box [x1, y1, x2, y2] in pixels.")
    detection_confidence: float = Field(description="MTCNN confidence that this is a face.")
    probability: float = Field(description="Fake probability of this face crop (fused).")
    branches: dict[str, float] = Field(
        description="Each branch's own fake probability for this crop (face, frequency)."
    )


class SegmentResult(_Schema):
    index: int
    start_s: float
    end_s: float
    probability: float | None = Field(
        description="Most suspicious person's probability in this segment; null if no face."
    )
    faces: list[FaceResult]


class TrackBox(_Schema):
    time_s: float
    box: BoxList


class PersonResult(_Schema):
    track_id: int
    probability: float = Field(description="Mean of this person's segment probabilities.")
    verdict: Verdict
    frames: int = Field(description="Sampled frames in which this person was seen.")
    votes: bool = Field(description="False for brief tracks that do not count (false alarms).")
    boxes: list[TrackBox]
    branches: dict[str, float] = Field(description="Each branch's probability for this person.")


class MediaResult(_Schema):
    type: Literal["image", "video", "audio"]
    format: str
    width: int
    height: int
    duration_s: float | None
    fps: float | None
    rotation: int = Field(description="Degrees applied to show the media upright.")
    frames_sampled: int


class BranchWeights(_Schema):
    branch: str
    weights_name: str
    weights_sha256: str
    temperature: float


class ModelResult(_Schema):
    architecture: str = Field(description="The face branch's architecture.")
    weights_name: str
    weights_sha256: str
    untrained: bool = Field(
        description="True when no trained weights are loaded: probabilities mean nothing."
    )
    engine: str
    devices: list[str]
    temperature: float
    branches: list[str] = Field(description="The branches that ran.")
    fusion: str | None = Field(description="The fusion manifest in force; null: face alone.")
    branch_weights: list[BranchWeights] = Field(
        description="The weights of the branches other than the face branch."
    )


class SettingsUsed(_Schema):
    segments: int
    frames_per_segment: int
    real_below: float
    fake_at_or_above: float
    strategy: str
    detect_short_side: int
    min_face_size: int
    crop: CropSpec = Field(description="How each face was cut: the weights' crop contract.")
    branches: list[str]


class Timings(_Schema):
    """Time per stage: decode_ms until the last frame was decoded; detect_ms and classify_ms
    the time each stage was busy. Decoding, detection and classification overlap (each
    detected batch is classified while the next is detected), so the stages can add up to
    more than total_ms."""

    decode_ms: float
    detect_ms: float
    classify_ms: float
    total_ms: float


class FaceThumbnail(_Schema):
    """A small JPEG of the crop the model judged: for each person in each segment, their most
    suspicious face."""

    track_id: int = Field(description="Person this face belongs to (see people).")
    segment: int = Field(description="Segment of the sampled frame (see segments).")
    time_s: float = Field(description="Time of the sampled frame.")
    probability: float = Field(description="Fake probability of this face crop (fused).")
    branches: dict[str, float] = Field(description="Each branch's own probability for it.")
    image: str = Field(
        description="The face crop as a data URI: data:image/jpeg;base64,..., at most "
        f"{THUMBNAIL_SIDE} px a side."
    )


class AudioWindow(_Schema):
    start_s: float
    end_s: float
    speech_s: float = Field(description="Seconds of speech in the window.")
    probability: float = Field(description="Probability that this window's voice is spoofed.")


class AudioResult(_Schema):
    """The voice branch's reading of the sound track (or the audio file)."""

    verdict: Literal["real", "fake", "uncertain", "no_speech"] = Field(
        description="no_speech: under 2 s of speech, too little to judge."
    )
    probability: float | None = Field(
        description="Probability that the voice is spoofed (cloned or synthesised), from the "
        "mean of its windows' logits; null for no_speech."
    )
    speech_s: float = Field(description="Seconds of speech found by the voice activity detector.")
    duration_s: float
    codec: str = Field(description="The audio track's codec.")
    real_below: float
    fake_at_or_above: float
    windows: list[AudioWindow] = Field(
        description="3 s windows every 1.5 s that are at least half speech."
    )
    model: str = Field(description="The voice model's weights, by name.")
    model_sha256: str
    analyse_ms: float


class AnalysisResult(_Schema):
    # 2.1 added `thumbnails` (on request only); 2.2 `audio`, `face_verdict` and audio media.
    schema_version: Literal["2.2"] = "2.2"
    verdict: Verdict
    face_verdict: Verdict | None = Field(
        default=None,
        description="The faces' own verdict; null for an audio file. `verdict` weighs it with "
        "the voice's (see audio).",
    )
    probability: float | None = Field(description="Fake probability; null for no_face.")
    branches: dict[str, float | None] = Field(
        description="Each branch's own probability for the media (null for no_face); the "
        "probability above fuses them."
    )
    novelty: float | None = Field(
        default=None,
        description="How unlike the training faces the faces are (median distance of their "
        "embeddings over the threshold): above 1 the verdict is uncertain; null when not "
        "measured.",
    )
    file_name: str | None = None
    media: MediaResult
    segments: list[SegmentResult]
    people: list[PersonResult]
    model: ModelResult
    settings: SettingsUsed
    timings: Timings
    warnings: list[str]
    audio: AudioResult | None = Field(
        default=None,
        description="The voice branch: null for a photo, a video without sound, or when the "
        "branch is off.",
    )
    thumbnails: list[FaceThumbnail] | None = Field(
        default=None,
        # Absent, not null, unless asked for: the default result keeps its size.
        exclude_if=lambda value: value is None,
        description="Only when asked for (POST /v1/analyze?thumbnails=true): for each person in "
        f"each segment, a thumbnail of their most suspicious face, at most {MAX_THUMBNAILS} (the "
        "most suspicious), in time order. Absent otherwise.",
    )
