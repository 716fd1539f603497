"""Thumbnails of the analysed faces, on request (POST /v1/analyze?thumbnails=true): which
moments made the verdict. For each person in each segment, the crop the model judged where it
was most suspicious, as a small JPEG data URI. result.py puts them in the result."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from .detection.faces import Face
    from .media import SampledFrame

THUMBNAIL_SIDE = 96  # pixels, the longer side
THUMBNAIL_QUALITY = 75  # JPEG: about 3 KB a face
# One per person and segment, at most this many (the most suspicious): ~130 KB of base64.
MAX_THUMBNAILS = 32


def pick_faces(
    faces: Sequence[tuple[int, int, Face]],
    frames: Sequence[SampledFrame],
    probabilities: np.ndarray,
) -> list[int]:
    """Indices into `faces` (frame index, track id, face) of the faces to show: each person's
    most suspicious face in each segment, at most MAX_THUMBNAILS of the most suspicious, in
    time order (then by person)."""
    best: dict[tuple[int, int], int] = {}  # (segment, track id) -> index of its top face
    for index, (frame_index, track_id, _) in enumerate(faces):
        key = (frames[frame_index].segment, track_id)
        # Strictly greater: of equal scores, the earliest face stays.
        if key not in best or probabilities[index] > probabilities[best[key]]:
            best[key] = index
    chosen = sorted(best.values(), key=lambda index: -float(probabilities[index]))
    chosen = chosen[:MAX_THUMBNAILS]
    return sorted(chosen, key=lambda index: (frames[faces[index][0]].time_s, faces[index][1]))


def jpeg_data_uri(crop: np.ndarray) -> str:
    """An RGB uint8 crop as a data:image/jpeg;base64 URI, at most THUMBNAIL_SIDE a side."""
    image = Image.fromarray(crop)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
