"""Media: tell the type from the bytes, load images, sample frames from videos.

Frames are kept in the decoder's own format until someone asks for pixels, so frames we
never use are never converted, and the detector's small copy is scaled by swscale in the
same step as the colour conversion.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.error

from ..config import LimitSettings, SamplingSettings
from ..deadline import Deadline
from ..errors import FileTooLargeError, UnsupportedMediaTypeError
from .images import decode_image, load_image
from .loaded import FrameCallback, LoadedMedia, MediaInfo, SampledFrame
from .pictures import ImagePicture, Picture, VideoPicture
from .sniff import SNIFF_BYTES, MediaKind, MediaType, sniff, sniff_file
from .video import sample_times, sample_video, upright_rotation

__all__ = [
    "SNIFF_BYTES",
    "FrameCallback",
    "ImagePicture",
    "LoadedMedia",
    "MediaInfo",
    "MediaKind",
    "MediaType",
    "Picture",
    "SampledFrame",
    "VideoPicture",
    "decode_image",
    "load_media",
    "sample_times",
    "sniff",
    "sniff_file",
    "upright_rotation",
    "check_size",
    "without_video",
]


def without_video(path: Path, media_type: MediaType) -> MediaType:
    """A container sniffed as video (MP4, WebM...) that holds sound but no picture is audio: a
    browser's recorded microphone comes as WebM, a phone's voice memo as MP4."""
    if media_type.kind is not MediaKind.VIDEO:
        return media_type
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video and container.streams.audio:
                return MediaType(MediaKind.AUDIO, media_type.format)
    except (av.error.FFmpegError, UnicodeDecodeError):
        pass  # the video loader reports it, with its reason
    return media_type


def check_size(path: Path, limits: LimitSettings) -> None:
    """FileTooLargeError for a file over limits.max_bytes."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileTooLargeError(f"file is {size} bytes; the limit is {limits.max_bytes}")


def load_media(
    path: Path,
    limits: LimitSettings,
    sampling: SamplingSettings,
    on_frame: FrameCallback | None = None,
    deadline: Deadline | None = None,
    media_type: MediaType | None = None,
) -> LoadedMedia:
    """Check a file against the limits, then load an image or sample a video (within the
    deadline, when there is one). media_type: the file's, when the caller sniffed it already."""
    check_size(path, limits)
    media_type = media_type or sniff_file(path)
    if media_type.kind is MediaKind.AUDIO:
        raise UnsupportedMediaTypeError("an audio file has no frames: its voice is judged instead")
    if media_type.kind is MediaKind.IMAGE:
        image = load_image(path, media_type, limits)
        if on_frame is not None:
            on_frame(image.frames[0], 1)
        return image
    return sample_video(path, media_type, limits, sampling, on_frame, deadline)
