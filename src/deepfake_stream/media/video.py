"""Videos: frames sampled by time across segments, decoded with PyAV, seeking past long gaps and
keeping frames in the decoder's format until their pixels are needed."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..config import LimitSettings, SamplingSettings
from ..deadline import Deadline
from ..errors import (
    CorruptMediaError,
    DurationTooLongError,
    EmptyMediaError,
    TooManyPixelsError,
    UnsupportedMediaTypeError,
)
from .loaded import FrameCallback, LoadedMedia, MediaInfo, SampledFrame
from .pictures import VideoPicture
from .reasons import decoder_reason
from .sniff import MediaKind, MediaType

# Decode only reference frames when fewer than 1 in this many frames is wanted: about twice
# as fast on H.264 with B-frames, and the wanted frames are still picked by time.
SKIP_NONREF_BELOW_DENSITY = 1 / 4
# A video whose frames end this long before its last sampling target is reported as cut short.
TRUNCATION_SLACK_S = 0.5


def upright_rotation(degrees: float | None) -> int:
    """A video frame's display-matrix rotation as the quarter turn nearest to it (0, 90, 180 or
    270): frames are only ever turned by quarter turns. A degenerate matrix, which PyAV reports
    as NaN cast to INT_MIN, turns nothing."""
    if not degrees or not math.isfinite(degrees) or abs(degrees) > 360:
        return 0
    return round(degrees / 90) % 4 * 90


def sample_times(duration_s: float, options: SamplingSettings) -> list[tuple[int, float]]:
    """(segment, time) targets: frames_per_segment evenly spaced inside each segment."""
    segment_length = duration_s / options.segments
    step = segment_length / options.frames_per_segment
    return [
        (segment, segment * segment_length + (index + 0.5) * step)
        for segment in range(options.segments)
        for index in range(options.frames_per_segment)
    ]


def sample_video(
    path: Path,
    media_type: MediaType,
    limits: LimitSettings,
    sampling: SamplingSettings,
    on_frame: FrameCallback | None,
    deadline: Deadline | None,
) -> LoadedMedia:
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise CorruptMediaError(
            f"cannot open {media_type.format} video: {decoder_reason(exc)}"
        ) from exc
    with container:
        if not container.streams.video:
            if container.streams.audio:
                raise UnsupportedMediaTypeError("the file holds audio only; send a video")
            raise EmptyMediaError(
                f"the {media_type.format} file holds no frames (zero-length video)"
            )
        # PyAV gives a stream no codec context when FFmpeg has no decoder for its codec id (an
        # exotic codec, or a codec tag damaged in transit).
        decodable = [s for s in container.streams.video if s.codec_context is not None]
        if not decodable:
            raise UnsupportedMediaTypeError(
                f"the {media_type.format} file's video codec is unknown or cannot be decoded"
            )
        stream = decodable[0]
        stream.thread_type = "AUTO"  # frame and slice threads; the default decodes on one core
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise CorruptMediaError("the video stream has no valid frame size")
        if width * height > limits.max_video_pixels:
            raise TooManyPixelsError(
                f"video frames are {width}x{height} = {width * height} pixels; "
                f"the limit is {limits.max_video_pixels}"
            )
        start_time = _start_time_s(stream)
        duration = _duration_s(container, stream)
        if duration is None:
            duration = _duration_by_demuxing(container, stream, start_time, deadline)
            _rewind(container, media_type)
        if duration > limits.max_duration_s:
            raise DurationTooLongError(
                f"video lasts {duration:.1f} s; the limit is {limits.max_duration_s:.0f} s"
            )
        fps = float(stream.average_rate) if stream.average_rate else None
        targets = sample_times(max(duration, 0.0), sampling)
        if fps and duration > 0 and len(targets) < SKIP_NONREF_BELOW_DENSITY * fps * duration:
            stream.codec_context.skip_frame = "NONREF"
        frames, problems = _decode_targets(
            container, stream, targets, start_time, sampling.seek_threshold_s, on_frame, deadline
        )
    if not frames:
        if problems:
            raise CorruptMediaError(f"no frame of the video could be decoded: {problems[0]}")
        raise EmptyMediaError("the video has no frames")
    last_shown = frames[-1][0].time_s
    slack = TRUNCATION_SLACK_S + (2 / fps if fps else 0.0)
    if targets and targets[-1][1] - last_shown > slack:
        problems.append(
            f"the video stops at {last_shown:.1f} s of the {duration:.1f} s it declares "
            "(truncated?): later segments have no frames"
        )
    rotation = frames[0][1]
    first = frames[0][0]
    info = MediaInfo(
        kind=MediaKind.VIDEO,
        format=media_type.format,
        width=first.picture.size[0],
        height=first.picture.size[1],
        duration_s=round(duration, 3),
        fps=round(fps, 3) if fps else None,
        rotation=rotation,
    )
    return LoadedMedia(info=info, frames=[frame for frame, _ in frames], warnings=problems)


def _start_time_s(stream: av.VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _duration_by_demuxing(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    start_time: float,
    deadline: Deadline | None,
) -> float:
    """For streams that do not declare a duration (e.g. live-recorded WebM): read packet times."""
    last = start_time
    try:
        for packet in container.demux(stream):
            if deadline is not None:
                deadline.check("reading the video's packets")
            if packet.pts is not None and packet.time_base is not None:
                end = packet.pts + (packet.duration or 0)
                last = max(last, float(end * packet.time_base))
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(f"cannot read the video: {decoder_reason(exc)}") from exc
    return last - start_time


def _rewind(container: av.container.InputContainer, media_type: MediaType) -> None:
    try:
        container.seek(0)
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(
            f"cannot return to the start of the {media_type.format} video: {decoder_reason(exc)}"
        ) from exc


def _frames_from(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        yield from packet.decode()


def _keyframe_times(stream: av.VideoStream, start_time: float) -> list[float] | None:
    """Keyframe times from the container's index, or None when it has none."""
    if stream.time_base is None:
        return None
    times = [
        float(entry.timestamp * stream.time_base) - start_time
        for entry in stream.index_entries
        if entry.is_keyframe
    ]
    return times or None


def _seek_skips_ahead(keyframes: list[float] | None, current: float, target: float) -> bool:
    """A seek lands on the last keyframe before the target: worth it only past `current`."""
    if keyframes is None:
        return True
    landing = bisect.bisect_right(keyframes, target) - 1
    return landing >= 0 and keyframes[landing] > current


def _decode_targets(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    targets: list[tuple[int, float]],
    start_time: float,
    seek_threshold_s: float,
    on_frame: FrameCallback | None,
    deadline: Deadline | None,
) -> tuple[list[tuple[SampledFrame, int]], list[str]]:
    """Decode forward, keeping for each target time the frame on screen at that time.

    A frame is on screen from its own timestamp until the next one, which keeps variable
    frame rate videos right. Long gaps are crossed with a seek.
    """
    picked: list[tuple[SampledFrame, int]] = []
    picked_pts: set[int] = set()
    problems: list[str] = []
    previous: av.VideoFrame | None = None
    frames = _frames_from(container, stream)
    target_index = 0
    sought_index = -1
    keyframes = _keyframe_times(stream, start_time)

    def keep(frame: av.VideoFrame, segment: int) -> None:
        if frame.pts is None or frame.pts in picked_pts:
            return  # short video: two targets on one frame
        picked_pts.add(frame.pts)
        rotation = upright_rotation(frame.rotation)
        time_s = max(0.0, float(frame.time or 0.0) - start_time)
        sampled = SampledFrame(VideoPicture(frame, rotation), round(time_s, 4), segment)
        picked.append((sampled, rotation))
        if on_frame is not None:
            on_frame(sampled, len(targets))

    while target_index < len(targets):
        if deadline is not None:
            deadline.check("decoding the video")
        segment, target = targets[target_index]
        current = None if previous is None else float(previous.time or 0.0) - start_time
        if (
            current is not None
            and sought_index != target_index
            and target - current > seek_threshold_s
            and _seek_skips_ahead(keyframes, current, target)
        ):
            sought_index = target_index  # at most one seek per target
            time_base = stream.time_base or Fraction(1, av.time_base)
            try:
                container.seek(int((target + start_time) / time_base), stream=stream)
            except av.error.FFmpegError as exc:  # decode on from where we are instead
                problems.append(f"seeking to {target:.1f} s failed: {decoder_reason(exc)}")
            else:
                frames = _frames_from(container, stream)
                previous = None
        try:
            frame = next(frames, None)
        except av.error.FFmpegError as exc:
            problems.append(f"decoding stopped early: {decoder_reason(exc)}")
            frame = None
        if frame is None:  # end of stream: the last frame covers the remaining targets
            if previous is not None:
                while target_index < len(targets):
                    keep(previous, targets[target_index][0])
                    target_index += 1
            break
        if frame.pts is None:
            continue
        frame_time = float(frame.time or 0.0) - start_time
        while target_index < len(targets) and frame_time > targets[target_index][1]:
            keep(previous if previous is not None else frame, targets[target_index][0])
            target_index += 1
        previous = frame
    return picked, problems
