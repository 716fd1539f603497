"""Faces: MTCNN detection on downscaled frames, their crops (crop.py), and tracks across frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..config import FaceSettings
from ..media import Picture
from .crop import Box, CropSpec, crop_face
from .mtcnn import Mtcnn, brighten_if_dark

# Two boxes in consecutive samples belong to one person when they overlap this much...
TRACK_MIN_IOU = 0.3
# ...or when their centres are closer than this share of the box size and sizes agree.
TRACK_MAX_CENTRE_SHIFT = 0.6
TRACK_MAX_SIZE_RATIO = 1.6

# A face seen before is looked for again with R-Net on square boxes around its last box,
# shifted by these shares of its side and scaled by these factors; R-Net's regression then
# moves the best ones onto the face, wherever it went within about half its size.
NEAR_SHIFTS = (-0.25, 0.0, 0.25)
NEAR_SCALES = (0.85, 1.0, 1.18)
# R-Net's best this many candidates per face go on to O-Net (R-Net passes most of the
# overlapping boxes around a face; O-Net's time grows with each).
NEAR_MAX_REFINED = 3
# A face at least this many pixels high in a coarse frame is seen by O-Net at its full input
# size (48 px): a finer frame would not place it better.
COARSE_FACE_SIDE = 48
# Two faces found again that overlap this much are one face claimed by two tracks.
NEAR_SAME_FACE_IOU = 0.5


@dataclass(frozen=True)
class Face:
    box: Box  # detected face box
    confidence: float  # MTCNN's final-stage probability
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners (x, y)
    crop: np.ndarray  # the crop under the detector's CropSpec, size x size x 3, uint8


class FaceDetector:
    """Batched MTCNN (facenet-pytorch, weights from its wheel) plus cropping."""

    def __init__(self, settings: FaceSettings, crop: CropSpec, device: str = "cpu") -> None:
        self.settings = settings
        self.crop = crop
        self.device = torch.device(device)
        self._mtcnn = Mtcnn(self.device)

    def detect(self, pictures: Sequence[Picture], short_side: int) -> list[list[Face]]:
        """Faces in each picture, largest first, with crops from the full-resolution frame."""
        results: list[list[Face]] = []
        step = self.settings.detect_batch_size
        for start in range(0, len(pictures), step):
            chunk = pictures[start : start + step]
            results.extend(self._detect_chunk(chunk, short_side))
        return results

    def detect_coarse_first(
        self, pictures: Sequence[Picture], short_side: int, coarse_side: int
    ) -> list[list[Face]]:
        """Faces as detect() finds them at short_side, but looked for at coarse_side first: a
        picture whose faces all span at least O-Net's input there (COARSE_FACE_SIDE) keeps
        those, since a finer frame would give O-Net nothing more to see; the others (no face,
        or a small one) are searched again at short_side. A portrait costs a quarter of the
        pixels; faces much smaller than the largest may go unseen."""
        found = self.detect(pictures, coarse_side)
        again = [
            index
            for index, (picture, faces) in enumerate(zip(pictures, found, strict=True))
            if not faces
            or _smallest_side(faces) * _scale_to(picture, coarse_side) < COARSE_FACE_SIDE
        ]
        finer = self.detect([pictures[i] for i in again], short_side)
        for index, faces in zip(again, finer, strict=True):
            found[index] = faces
        return found

    def detect_near(
        self, picture: Picture, boxes: Sequence[Box], short_side: int
    ) -> list[Face | None]:
        """Each earlier face found again where it was last (`boxes`), without P-Net's pyramid:
        R-Net scores a few boxes around each last box (NEAR_SHIFTS, NEAR_SCALES) in the frame
        downscaled as for a whole search, and O-Net places the best. Same frame, same networks
        and same scale as a whole search: a face that stayed put gets the same box. Returns the
        face that best continues each box, or None where there is none."""
        if not boxes:
            return []
        small = picture.to_rgb(short_side)
        scale = picture.size[0] / small.shape[1]
        batch = small[np.newaxis]
        if self.settings.brighten_dark_frames:
            batch = brighten_if_dark(batch)
        candidates = np.concatenate([_candidates_around(box, scale) for box in boxes])
        ((found_boxes, probs, points),) = self._mtcnn.refine(
            batch, candidates, self.settings.thresholds, NEAR_MAX_REFINED * len(boxes)
        )
        found_boxes, points = found_boxes * scale, points * scale
        found: list[Face | None] = []
        for box in boxes:
            links = [
                _link_score(_as_box(found_boxes[i]), box) if probs[i] >= self._floor else 0.0
                for i in range(len(probs))
            ]
            if not links or max(links) <= 0:
                found.append(None)
                continue
            best = int(np.argmax(links))
            found.append(self._face(picture, found_boxes[best], probs[best], points[best]))
        return found

    @property
    def _floor(self) -> float:
        return min(self.settings.min_confidence, self.settings.min_confidence_in_track)

    def _detect_chunk(self, pictures: Sequence[Picture], short_side: int) -> list[list[Face]]:
        small = [picture.to_rgb(short_side) for picture in pictures]
        if len({image.shape for image in small}) == 1:
            groups = [list(range(len(small)))]
        else:  # MTCNN batches need one size; odd sizes go one by one
            groups = [[index] for index in range(len(small))]
        found: list[list[Face]] = [[] for _ in pictures]
        for group in groups:
            batch = np.stack([small[index] for index in group])
            if self.settings.brighten_dark_frames:
                batch = brighten_if_dark(batch)
            detections = self._mtcnn.detect(
                batch, self.settings.min_face_size, self.settings.thresholds
            )
            for slot, index in enumerate(group):
                picture = pictures[index]
                scale = picture.size[0] / small[index].shape[1]
                boxes, probs, points = detections[slot]
                found[index] = self._faces_in_frame(picture, boxes * scale, probs, points * scale)
        return found

    def _faces_in_frame(
        self, picture: Picture, boxes: np.ndarray, probs: np.ndarray, points: np.ndarray
    ) -> list[Face]:
        """The frame's faces from its detections (in frame pixels), largest first."""
        keep = [i for i, p in enumerate(probs) if p >= self._floor]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep.sort(key=lambda i: -areas[i])
        keep = keep[: self.settings.max_faces_per_frame]
        return [self._face(picture, boxes[i], probs[i], points[i]) for i in keep]

    def _face(
        self, picture: Picture, box: np.ndarray, probability: float, points: np.ndarray
    ) -> Face:
        face_box = _as_box(box)
        return Face(
            box=face_box,
            confidence=float(probability),
            landmarks=tuple((float(x), float(y)) for x, y in points),
            crop=crop_face(picture, face_box, self.crop),
        )


def _candidates_around(box: Box, scale: float) -> np.ndarray:
    """Square boxes (K, 4) around `box` (frame pixels) in a frame shrunk by `scale`."""
    side = max(box[2] - box[0], box[3] - box[1]) / scale
    centre_x, centre_y = (box[0] + box[2]) / 2 / scale, (box[1] + box[3]) / 2 / scale
    return np.array(
        [
            (x - half, y - half, x + half, y + half)
            for factor in NEAR_SCALES
            for half in [side * factor / 2]
            for dx in NEAR_SHIFTS
            for dy in NEAR_SHIFTS
            for x, y in [(centre_x + dx * side, centre_y + dy * side)]
        ],
        dtype=np.float32,
    )


def _smallest_side(faces: Sequence[Face]) -> float:
    return min(min(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in faces)


def _scale_to(picture: Picture, short_side: int) -> float:
    """The factor by which to_rgb(short_side) shrinks the picture."""
    return min(1.0, short_side / min(picture.size))


def _as_box(values: np.ndarray) -> Box:
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def faces_overlap(faces: Sequence[Face]) -> bool:
    """Whether two of the faces are one face (two tracks that found the same person again)."""
    return any(
        iou(a.box, b.box) > NEAR_SAME_FACE_IOU
        for index, a in enumerate(faces)
        for b in faces[index + 1 :]
    )


def keep_confirmed_tracks(
    faces_per_frame: Sequence[Sequence[Face]],
    tracks: Sequence[Sequence[int]],
    min_confidence: float,
) -> tuple[list[list[Face]], list[list[int]]]:
    """Drop the tracks with no detection of at least min_confidence: their weaker faces are
    false alarms (or faces in posters); weak faces on a confirmed track are kept."""
    best: dict[int, float] = {}
    for faces, ids in zip(faces_per_frame, tracks, strict=True):
        for face, track in zip(faces, ids, strict=True):
            best[track] = max(best.get(track, 0.0), face.confidence)
    confirmed = sorted(track for track, confidence in best.items() if confidence >= min_confidence)
    renumber = {track: new for new, track in enumerate(confirmed)}
    kept_faces: list[list[Face]] = []
    kept_ids: list[list[int]] = []
    for faces, ids in zip(faces_per_frame, tracks, strict=True):
        pairs = [(face, renumber[t]) for face, t in zip(faces, ids, strict=True) if t in renumber]
        kept_faces.append([face for face, _ in pairs])
        kept_ids.append([track for _, track in pairs])
    return kept_faces, kept_ids


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _link_score(a: Box, b: Box) -> float:
    """How likely two boxes are one person: IoU, or a small score for a nearby same-size box."""
    overlap = iou(a, b)
    if overlap >= TRACK_MIN_IOU:
        return overlap
    size_a = max(a[2] - a[0], a[3] - a[1])
    size_b = max(b[2] - b[0], b[3] - b[1])
    if min(size_a, size_b) <= 0 or max(size_a, size_b) / min(size_a, size_b) > TRACK_MAX_SIZE_RATIO:
        return 0.0
    shift = float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))
    relative_shift = shift / ((size_a + size_b) / 2)
    if relative_shift > TRACK_MAX_CENTRE_SHIFT:
        return 0.0
    return 0.01 * (1.0 - relative_shift / TRACK_MAX_CENTRE_SHIFT)


class Tracker:
    """Links faces across frames into tracks (people), greedily by overlap with each track's
    latest box; ids are numbered by first appearance. Fed frame by frame, so that a whole video
    and a live stream are tracked the same way."""

    def __init__(self) -> None:
        self._latest: list[Box] = []

    def update(self, boxes: Sequence[Box]) -> list[int]:
        """The track id of each box of the next frame."""
        pairs = sorted(
            (
                (score, box_index, track_id)
                for box_index, box in enumerate(boxes)
                for track_id, last in enumerate(self._latest)
                if (score := _link_score(box, last)) > 0
            ),
            reverse=True,
        )
        ids = [-1] * len(boxes)
        used_tracks: set[int] = set()
        for _, box_index, track_id in pairs:
            if ids[box_index] == -1 and track_id not in used_tracks:
                ids[box_index] = track_id
                used_tracks.add(track_id)
        for box_index, box in enumerate(boxes):
            if ids[box_index] == -1:
                ids[box_index] = len(self._latest)
                self._latest.append(box)
            else:
                self._latest[ids[box_index]] = box
        return ids


class ConfirmedTracker:
    """A Tracker for live frames, with the rule files follow (keep_confirmed_tracks): a track
    counts from its first face of at least min_confidence on, its weaker faces with it, and a
    track never confirmed is a false alarm. Tracks are numbered in the order they are
    confirmed, which is the files' order of first appearance unless a face starts weak."""

    def __init__(self, min_confidence: float) -> None:
        self._tracker = Tracker()
        self._min_confidence = min_confidence
        self._numbers: dict[int, int] = {}  # the tracker's id -> the confirmed track's

    def update(self, faces: Sequence[Face]) -> list[tuple[Face, int]]:
        """The faces of the next frame that are on confirmed tracks, with their track ids."""
        kept = []
        for face, track in zip(faces, self._tracker.update([f.box for f in faces]), strict=True):
            if track not in self._numbers and face.confidence >= self._min_confidence:
                self._numbers[track] = len(self._numbers)
            if track in self._numbers:
                kept.append((face, self._numbers[track]))
        return kept


def assign_tracks(boxes_per_frame: Sequence[Sequence[Box]]) -> list[list[int]]:
    """A track id for every box of every frame (see Tracker)."""
    tracker = Tracker()
    return [tracker.update(boxes) for boxes in boxes_per_frame]
