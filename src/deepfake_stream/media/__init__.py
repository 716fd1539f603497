"""Media: tell the type from the bytes, load images, sample frames from videos.

Frames are kept in the decoder's own format until someone asks for pixels, so frames we
never use are never converted, and the detector's small copy is scaled by swscale in the
same step as the colour conversion.
"""

from __future__ import annotations

from pathlib import Path

from ..config import LimitSettings, SamplingSettings
from ..deadline import Deadline
from ..errors import FileTooLargeError
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
]


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
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileTooLargeError(f"file is {size} bytes; the limit is {limits.max_bytes}")
    media_type = media_type or sniff_file(path)
    if media_type.kind is MediaKind.IMAGE:
        image = load_image(path, media_type, limits)
        if on_frame is not None:
            on_frame(image.frames[0], 1)
        return image
    return sample_video(path, media_type, limits, sampling, on_frame, deadline)
