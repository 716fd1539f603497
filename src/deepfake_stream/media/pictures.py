"""Pictures: a decoded image or a video frame, converted to RGB only when its pixels are asked
for (the detector's small copy is scaled by swscale in the same step as the colour conversion)."""

from __future__ import annotations

from typing import Protocol

import av
import av.error
import numpy as np
from PIL import Image

PHOTO_REDUCING_GAP = 2.0


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

    # An upright region (x1, y1, x2, y2), black where it leaves the frame.
    def crop_image(self, box: tuple[int, int, int, int]) -> Image.Image: ...

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
    """A decoded still image (already upright): RGB pixels, or a Pillow RGB image whose pixels
    are copied out only where asked (a region for a face, a small copy for the detector)."""

    def __init__(self, rgb: np.ndarray | Image.Image) -> None:
        self._pixels: np.ndarray | Image.Image | None = rgb
        self._size = rgb.size if isinstance(rgb, Image.Image) else (rgb.shape[1], rgb.shape[0])

    @property
    def _stored(self) -> np.ndarray | Image.Image:
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
        stored = self._stored
        if new_size == (width, height):
            return np.asarray(stored)
        image = stored if isinstance(stored, Image.Image) else Image.fromarray(stored)
        # reducing_gap: an integer box reduction first, then bilinear; a third faster on large
        # photos, within a quarter of a grey level of the one-step resize.
        resized = image.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=PHOTO_REDUCING_GAP)
        return np.asarray(resized)

    def crop_image(self, box: tuple[int, int, int, int]) -> Image.Image:
        stored = self._stored
        if isinstance(stored, Image.Image):
            # Pillow fills what lies outside the image with black itself, and the region is
            # never copied through NumPy: a face's resize reads it where it is.
            return stored.crop(box)
        (x1, y1, x2, y2), padding = _clip_box(box, *self.size)
        if x2 <= x1 or y2 <= y1:
            return Image.new("RGB", (box[2] - box[0], box[3] - box[1]))
        return Image.fromarray(_pad_black(stored[y1:y2, x1:x2], padding))


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

    def crop_image(self, box: tuple[int, int, int, int]) -> Image.Image:
        """An upright region, converting only that region's YUV samples (a 1080p frame costs
        ~10 ms to convert whole; a face region well under 1 ms)."""
        (x1, y1, x2, y2), padding = _clip_box(box, *self.size)
        if x2 <= x1 or y2 <= y1:
            return Image.new("RGB", (box[2] - box[0], box[3] - box[1]))
        if self._frame.format.name != "yuv420p":
            return Image.fromarray(_pad_black(self.to_rgb()[y1:y2, x1:x2], padding))
        rows, cols = self._stored_region(y1, y2, x1, x2)
        rgb = self._convert_region(rows, cols)
        if self._quarter_turns:
            rgb = np.ascontiguousarray(np.rot90(rgb, self._quarter_turns))
        return Image.fromarray(_pad_black(rgb, padding))

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
