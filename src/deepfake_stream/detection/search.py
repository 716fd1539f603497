"""Where faces are searched for, frame after frame: the whole frame on keyframes, and between
them only around the faces already found (FaceDetector.detect_near), at about 40% of a whole
search's cost. A video's samples and a stream's frames are searched the same way."""

from __future__ import annotations

from collections.abc import Sequence

from ..media import Picture
from .faces import Face, FaceDetector, faces_overlap

# Frames with more faces than this are searched whole: each followed face costs a search of
# its own, and in crowds small faces are often lost and searched for twice.
FOLLOW_AT_MOST = 3


class FaceSearch:
    """The faces of each next frame, keeping what it needs of the frames before.

    The whole frame is searched on the first frame, then at least every
    `faces.keyframe_interval` frames (new people appear by then at the latest), after a gap of
    more than `faces.max_track_gap_s` between two frames, whenever no face or more than
    FOLLOW_AT_MOST faces are being followed (a video without faces, or a crowd, is searched
    whole throughout), and again on the same frame whenever a followed face is not found near
    its last box (it moved far, turned away or left) or two followed faces become one.
    """

    def __init__(
        self, detector: FaceDetector, short_side: int, coarse_side: int | None = None
    ) -> None:
        self._detector = detector
        self._short_side = short_side
        # Whole frames are first searched at this smaller size (detect_coarse_first), if given.
        self._coarse_side = coarse_side
        self._interval = detector.settings.keyframe_interval
        self._max_gap_s = detector.settings.max_track_gap_s
        self._previous: list[Face] = []
        self._since_keyframe = 0
        self._last_time_s: float | None = None
        self.full_searches = 0  # frames searched whole, for the record (bench, tests)

    def find(self, frames: Sequence[tuple[Picture, float]]) -> list[list[Face]]:
        """Faces in each (picture, time in seconds) in order, largest first."""
        if self._interval == 1:  # every frame searched whole, as one batch
            return self._search_whole([p for p, _ in frames], frames[-1][1]) if frames else []
        return [self._next(picture, time_s) for picture, time_s in frames]

    def _next(self, picture: Picture, time_s: float) -> list[Face]:
        gap_s = None if self._last_time_s is None else time_s - self._last_time_s
        followable = (
            0 < len(self._previous) <= FOLLOW_AT_MOST
            and self._since_keyframe < self._interval
            and gap_s is not None
            and 0 <= gap_s <= self._max_gap_s
        )
        if followable:
            again = self._detector.detect_near(
                picture, [face.box for face in self._previous], self._short_side
            )
            faces = [face for face in again if face is not None]
            if len(faces) == len(again) and not faces_overlap(faces):
                faces.sort(key=_area, reverse=True)
                self._previous = faces
                self._since_keyframe += 1
                self._last_time_s = time_s
                return faces
        (faces,) = self._search_whole([picture], time_s)
        return faces

    def _search_whole(self, pictures: list[Picture], last_time_s: float) -> list[list[Face]]:
        if self._coarse_side is not None and self._coarse_side < self._short_side:
            found = self._detector.detect_coarse_first(
                pictures, self._short_side, self._coarse_side
            )
        else:
            found = self._detector.detect(pictures, self._short_side)
        self.full_searches += len(pictures)
        self._previous = found[-1]
        self._since_keyframe = 1
        self._last_time_s = last_time_s
        return found


def _area(face: Face) -> float:
    return (face.box[2] - face.box[0]) * (face.box[3] - face.box[1])
