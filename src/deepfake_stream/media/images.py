"""Still images: decoded with Pillow, turned upright by their EXIF orientation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import LimitSettings
from ..errors import (
    CorruptMediaError,
    TooManyPixelsError,
)
from .loaded import LoadedMedia, MediaInfo, SampledFrame
from .pictures import ImagePicture
from .reasons import decoder_reason
from .sniff import MediaKind, MediaType


def decode_image(
    source: Path | BinaryIO, media_type: MediaType, limits: LimitSettings
) -> tuple[ImagePicture, int]:
    """An upright image (its first frame, if animated) and the EXIF rotation applied to it; the
    media errors for images over the limit or that Pillow cannot decode."""
    rgb: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns or raises at its own limit; ours comes first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
            try:
                width, height = image.size
                if width * height > limits.max_image_pixels:
                    raise TooManyPixelsError(
                        f"image is {width}x{height} = {width * height} pixels; "
                        f"the limit is {limits.max_image_pixels}"
                    )
                image.seek(0)  # animated WebP/PNG: the first frame
                rotation = _exif_rotation(image)
                # Each of these copies the whole image (10-30 ms for 3 Mpx): only when needed.
                upright = ImageOps.exif_transpose(image) if _exif_orientation(image) != 1 else image
                animated = getattr(image, "is_animated", False)  # its file stays open: copy
                rgb = upright if upright.mode == "RGB" and not animated else upright.convert("RGB")
                rgb.load()  # a still image's file is closed once loaded
            finally:
                if rgb is not image:
                    image.close()
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(
            f"image rejected as a decompression bomb: {decoder_reason(exc)}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptMediaError(
            f"cannot decode {media_type.format} image: {decoder_reason(exc)}"
        ) from exc
    assert rgb is not None
    return ImagePicture(rgb), rotation


def load_image(path: Path, media_type: MediaType, limits: LimitSettings) -> LoadedMedia:
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


EXIF_ORIENTATION_TAG = 0x0112
EXIF_ORIENTATION_DEGREES = {3: 180, 4: 180, 5: 90, 6: 270, 7: 270, 8: 90}


def _exif_orientation(image: Image.Image) -> int:
    orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    try:
        return int(orientation)
    except (TypeError, ValueError):
        return 1


def _exif_rotation(image: Image.Image) -> int:
    return EXIF_ORIENTATION_DEGREES.get(_exif_orientation(image), 0)
