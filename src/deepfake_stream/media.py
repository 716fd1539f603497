"""Media: tell the type from the bytes, load images, sample frames from videos.

Frames are kept in the decoder's own format until someone asks for pixels, so frames we
never use are never converted, and the detector's small copy is scaled by swscale in the
same step as the colour conversion.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Protocol

import av
import av.error
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import LimitSettings, SamplingSettings
from .deadline import Deadline
from .errors import (
    CorruptMediaError,
    DurationTooLongError,
    EmptyMediaError,
    FileTooLargeError,
    TooManyPixelsError,
    UnsupportedMediaTypeError,
)

SNIFF_BYTES = 64
IMAGE_FORMATS = {"jpeg", "png", "webp", "bmp"}
VIDEO_FORMATS = {"mp4", "mov", "webm", "mkv", "avi"}
# ISO-BMFF brands that are still images, not videos.
STILL_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
# Decode only reference frames when fewer than 1 in this many frames is wanted: about twice
# as fast on H.264 with B-frames, and the wanted frames are still picked by time.
SKIP_NONREF_BELOW_DENSITY = 1 / 4
# A video whose frames end this long before its last sampling target is reported as cut short.
TRUNCATION_SLACK_S = 0.5


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class MediaType:
    kind: MediaKind  # image or video
    format: str  # jpeg, png, webp, bmp, mp4, mov, webm, mkv or avi


@dataclass(frozen=True)
class MediaInfo:
    kind: MediaKind
    format: str
    width: int  # as displayed (after rotation)
    height: int
    duration_s: float | None  # None for images
    fps: float | None  # average frame rate; None for images
    rotation: int  # degrees applied to show the frame upright (0, 90, 180, 270)


def _rescaled_size(width: int, height: int, max_short_side: int | None) -> tuple[int, int]:
    """Size with the short side at most max_short_side, keeping aspect, even numbers."""
    if max_short_side is None or min(width, height) <= max_short_side:
        return width, height
    scale = max_short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class Picture(Protocol):
    """One upright frame whose pixels are produced on request."""

    @property
    def size(self) -> tuple[int, int]: ...  # (width, height), upright

    def to_rgb(self, max_short_side: int | None = None) -> np.ndarray: ...

    def crop_rgb(self, box: tuple[int, int, int, int]) -> np.ndarray: ...  # x1, y1, x2, y2

    def release(self) -> None: ...  # drop the pixels once the faces are cut out


def _clip_box(
    box: tuple[int, int, int, int], width: int, height: int
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The part of box inside the frame, and the padding (left, top, right, bottom) around it."""
    x1, y1, x2, y2 = box
    inside = (max(0, x1), max(0, y1), min(width, x2), min(height, y2))
    padding = (inside[0] - x1, inside[1] - y1, x2 - inside[2], y2 - inside[3])
    return inside, padding


def _pad_black(rgb: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = padding
    if not any(padding):
        return rgb
    return np.pad(rgb, ((top, bottom), (left, right), (0, 0)))


class ImagePicture:
    """A decoded still image (already upright)."""

    def __init__(self, rgb: np.ndarray) -> None:
        self._pixels: np.ndarray | None = rgb
        self._size = (rgb.shape[1], rgb.shape[0])

    @property
    def _rgb(self) -> np.ndarray:
        if self._pixels is None:
            raise RuntimeError("the image's pixels were released")
        return self._pixels

    def release(self) -> None:
        self._pixels = None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    def to_rgb(self, max_short_side: int | None = None) -> np.ndarray:
        width, height = self.size
        new_size = _rescaled_size(width, height, max_short_side)
        if new_size == (width, height):
            return self._rgb
        resized = Image.fromarray(self._rgb).resize(new_size, Image.Resampling.BILINEAR)
        return np.asarray(resized)

    def crop_rgb(self, box: tuple[int, int, int, int]) -> np.ndarray:
        (x1, y1, x2, y2), padding = _clip_box(box, *self.size)
        if x2 <= x1 or y2 <= y1:
            return np.zeros((box[3] - box[1], box[2] - box[0], 3), np.uint8)
        return _pad_black(self._rgb[y1:y2, x1:x2], padding)


class VideoPicture:
    """A decoded video frame, converted to RGB (and rotated) only when asked."""

    def __init__(self, frame: av.VideoFrame, rotation: int) -> None:
        self._decoded: av.VideoFrame | None = frame
        self._stored_size = (frame.width, frame.height)
        self._quarter_turns = (rotation // 90) % 4

    @property
    def _frame(self) -> av.VideoFrame:
        if self._decoded is None:
            raise RuntimeError("the frame's pixels were released")
        return self._decoded

    def release(self) -> None:
        self._decoded = None

    @property
    def size(self) -> tuple[int, int]:
        width, height = self._stored_size
        return (height, width) if self._quarter_turns % 2 else (width, height)

    def to_rgb(self, max_short_side: int | None = None) -> np.ndarray:
        width, height = _rescaled_size(self._frame.width, self._frame.height, max_short_side)
        rgb: np.ndarray
        if (width, height) == (self._frame.width, self._frame.height):
            rgb = self._frame.to_ndarray(format="rgb24")
        else:
            rgb = self._frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        if self._quarter_turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, self._quarter_turns))
        return rgb

    def crop_rgb(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """RGB of an upright region, converting only that region's YUV samples (a 1080p frame
        costs ~10 ms to convert whole; a face region well under 1 ms)."""
        (x1, y1, x2, y2), padding = _clip_box(box, *self.size)
        if x2 <= x1 or y2 <= y1:
            return np.zeros((box[3] - box[1], box[2] - box[0], 3), np.uint8)
        if self._frame.format.name != "yuv420p":
            return _pad_black(self.to_rgb()[y1:y2, x1:x2], padding)
        rows, cols = self._stored_region(y1, y2, x1, x2)
        rgb = self._convert_region(rows, cols)
        if self._quarter_turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, self._quarter_turns))
        return _pad_black(rgb, padding)

    def _stored_region(
        self, r1: int, r2: int, c1: int, c2: int
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """Rows and columns of the stored frame that an upright region comes from."""
        width, height = self._frame.width, self._frame.height
        turns = self._quarter_turns
        if turns == 1:  # upright[i, j] = stored[j, W - 1 - i]
            return (c1, c2), (width - r2, width - r1)
        if turns == 2:
            return (height - r2, height - r1), (width - c2, width - c1)
        if turns == 3:  # upright[i, j] = stored[H - 1 - j, i]
            return (height - c2, height - c1), (r1, r2)
        return (r1, r2), (c1, c2)

    def _convert_region(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        # 4:2:0 chroma covers 2x2 luma: widen to even bounds, convert, then trim.
        top, left = rows[0] - rows[0] % 2, cols[0] - cols[0] % 2
        bottom = min(self._frame.height, rows[1] + rows[1] % 2)
        right = min(self._frame.width, cols[1] + cols[1] % 2)
        if (bottom - top) % 2 or (right - left) % 2:  # odd frame size at the edge
            return self._frame.to_ndarray(format="rgb24")[rows[0] : rows[1], cols[0] : cols[1]]
        planes = [
            np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
            for plane in self._frame.planes
        ]
        luma = planes[0][top:bottom, left:right]
        chroma = [p[top // 2 : bottom // 2, left // 2 : right // 2] for p in planes[1:]]
        packed = np.concatenate([luma.ravel(), chroma[0].ravel(), chroma[1].ravel()])
        region = av.VideoFrame.from_ndarray(
            packed.reshape((bottom - top) * 3 // 2, right - left), format="yuv420p"
        )
        region.colorspace = self._frame.colorspace  # same matrix and range as a whole-frame
        region.color_range = self._frame.color_range  # conversion
        rgb = region.to_ndarray(format="rgb24")
        return rgb[rows[0] - top : rows[1] - top, cols[0] - left : cols[1] - left]


@dataclass(frozen=True)
class SampledFrame:
    picture: Picture  # the frame's pixels, on request
    time_s: float  # presentation time from the start of the video (0 for images)
    segment: int  # index of the segment it was sampled for


@dataclass(frozen=True)
class LoadedMedia:
    info: MediaInfo
    frames: list[SampledFrame]  # in time order
    warnings: list[str]  # problems that did not stop the analysis


# Called with each sampled frame as soon as it is decoded, and the number of frames wanted.
FrameCallback = Callable[["SampledFrame", int], None]


def sniff(head: bytes) -> MediaType:
    """Tell the media type from the first bytes of a file; never from its name."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType(MediaKind.IMAGE, "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType(MediaKind.IMAGE, "png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType(MediaKind.IMAGE, "webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType(MediaKind.VIDEO, "avi")
    if head.startswith(b"BM") and len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        return MediaType(MediaKind.IMAGE, "bmp")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType(MediaKind.VIDEO, "webm" if b"webm" in head else "mkv")
    box_type = head[4:8]
    if box_type == b"ftyp":
        brand = head[8:12]
        if brand in STILL_IMAGE_BRANDS:
            raise UnsupportedMediaTypeError(
                f"unsupported image format (ISO brand {brand.decode(errors='replace')!r}); "
                "send JPEG, PNG, WebP or BMP"
            )
        return MediaType(MediaKind.VIDEO, "mov" if brand == b"qt  " else "mp4")
    if box_type in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return MediaType(MediaKind.VIDEO, "mov")
    if not head:
        raise EmptyMediaError("the file is empty")
    raise UnsupportedMediaTypeError(
        "unsupported media type: send an image (JPEG, PNG, WebP, BMP) "
        "or a video (MP4, MOV, WebM, MKV, AVI)"
    )


def sniff_file(path: Path) -> MediaType:
    with path.open("rb") as handle:
        return sniff(handle.read(SNIFF_BYTES))


def load_media(
    path: Path,
    limits: LimitSettings,
    sampling: SamplingSettings,
    on_frame: FrameCallback | None = None,
    deadline: Deadline | None = None,
) -> LoadedMedia:
    """Check a file against the limits, then load an image or sample a video (within the
    deadline, when there is one)."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileTooLargeError(f"file is {size} bytes; the limit is {limits.max_bytes}")
    media_type = sniff_file(path)
    if media_type.kind is MediaKind.IMAGE:
        image = _load_image(path, media_type, limits)
        if on_frame is not None:
            on_frame(image.frames[0], 1)
        return image
    return _sample_video(path, media_type, limits, sampling, on_frame, deadline)


def decode_image(
    source: Path | BinaryIO, media_type: MediaType, limits: LimitSettings
) -> tuple[ImagePicture, int]:
    """An upright image (its first frame, if animated) and the EXIF rotation applied to it; the
    media errors for images over the limit or that Pillow cannot decode."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns or raises at its own limit; ours comes first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > limits.max_image_pixels:
                    raise TooManyPixelsError(
                        f"image is {width}x{height} = {width * height} pixels; "
                        f"the limit is {limits.max_image_pixels}"
                    )
                image.seek(0)  # animated WebP/PNG: the first frame
                upright = ImageOps.exif_transpose(image)
                rgb = np.asarray(upright.convert("RGB"))
                rotation = _exif_rotation(image)
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(f"image rejected as a decompression bomb: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptMediaError(f"cannot decode {media_type.format} image: {exc}") from exc
    return ImagePicture(rgb), rotation


def _load_image(path: Path, media_type: MediaType, limits: LimitSettings) -> LoadedMedia:
    picture, rotation = decode_image(path, media_type, limits)
    width, height = picture.size
    info = MediaInfo(
        kind=MediaKind.IMAGE,
        format=media_type.format,
        width=width,
        height=height,
        duration_s=None,
        fps=None,
        rotation=rotation,
    )
    return LoadedMedia(info=info, frames=[SampledFrame(picture, 0.0, 0)], warnings=[])


def upright_rotation(degrees: float | None) -> int:
    """A video frame's display-matrix rotation as the quarter turn nearest to it (0, 90, 180 or
    270): frames are only ever turned by quarter turns. A degenerate matrix, which PyAV reports
    as NaN cast to INT_MIN, turns nothing."""
    if not degrees or not math.isfinite(degrees) or abs(degrees) > 360:
        return 0
    return round(degrees / 90) % 4 * 90


EXIF_ORIENTATION_TAG = 0x0112
EXIF_ORIENTATION_DEGREES = {3: 180, 4: 180, 5: 90, 6: 270, 7: 270, 8: 90}


def _exif_rotation(image: Image.Image) -> int:
    orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    return EXIF_ORIENTATION_DEGREES.get(int(orientation), 0)


def sample_times(duration_s: float, options: SamplingSettings) -> list[tuple[int, float]]:
    """(segment, time) targets: frames_per_segment evenly spaced inside each segment."""
    segment_length = duration_s / options.segments
    step = segment_length / options.frames_per_segment
    return [
        (segment, segment * segment_length + (index + 0.5) * step)
        for segment in range(options.segments)
        for index in range(options.frames_per_segment)
    ]


def _sample_video(
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
        raise CorruptMediaError(f"cannot open {media_type.format} video: {exc}") from exc
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
        raise CorruptMediaError(f"cannot read the video: {exc}") from exc
    return last - start_time


def _rewind(container: av.container.InputContainer, media_type: MediaType) -> None:
    try:
        container.seek(0)
    except av.error.FFmpegError as exc:
        raise CorruptMediaError(
            f"cannot return to the start of the {media_type.format} video: {exc}"
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
                problems.append(f"seeking to {target:.1f} s failed: {exc}")
            else:
                frames = _frames_from(container, stream)
                previous = None
        try:
            frame = next(frames, None)
        except av.error.FFmpegError as exc:
            problems.append(f"decoding stopped early: {exc}")
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
