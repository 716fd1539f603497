"""Faces: MTCNN detection on downscaled frames, square crops, and tracks across frames."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .config import FaceSettings
from .media import Picture

# Frames darker than this mean luminance (0..1) are brightened for the detector only:
# MTCNN misses faces in underexposed footage that a person sees easily.
DARK_FRAME_LUMINANCE = 0.25
BRIGHTENED_LUMINANCE = 0.45
# Two boxes in consecutive samples belong to one person when they overlap this much...
TRACK_MIN_IOU = 0.3
# ...or when their centres are closer than this share of the box size and sizes agree.
TRACK_MAX_CENTRE_SHIFT = 0.6
TRACK_MAX_SIZE_RATIO = 1.6

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in upright full-resolution pixels


@dataclass(frozen=True)
class Face:
    box: Box  # detected face box
    confidence: float  # MTCNN's final-stage probability
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners (x, y)
    crop: np.ndarray  # square crop around the box, crop_size x crop_size x 3, uint8


def square_crop_box(box: Box, margin: float) -> Box:
    """The square around a face box: side = (1 + margin) * the box's longer side."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_face(rgb: np.ndarray, box: Box, margin: float, size: int) -> np.ndarray:
    """Square crop with margin, resized to size x size. Parts outside the frame are black."""
    x1, y1, x2, y2 = (round(v) for v in square_crop_box(box, margin))
    crop = Image.fromarray(rgb).crop((x1, y1, x2, y2))
    return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))


def brighten_if_dark(batch: np.ndarray) -> np.ndarray:
    """Gamma-correct frames whose mean luminance is below DARK_FRAME_LUMINANCE."""
    out = batch
    means = batch.reshape(len(batch), -1).mean(axis=1) / 255.0
    for index, mean in enumerate(means):
        if 1e-3 < mean < DARK_FRAME_LUMINANCE:
            if out is batch:
                out = batch.copy()
            gamma = np.log(BRIGHTENED_LUMINANCE) / np.log(mean)
            lut = (np.linspace(0.0, 1.0, 256) ** gamma * 255.0).round().astype(np.uint8)
            out[index] = lut[batch[index]]
    return out


class FaceDetector:
    """Batched MTCNN (facenet-pytorch, weights from its wheel) plus cropping."""

    def __init__(self, settings: FaceSettings, crop_size: int, device: str = "cpu") -> None:
        # Imported here: facenet_pytorch pulls in torchvision, which the CLI's --help does not need.
        from facenet_pytorch import MTCNN

        self.settings = settings
        self.crop_size = crop_size
        # keep_all=True: keep_all=False crashes on a batch holding a face-less frame.
        self._mtcnn = MTCNN(
            keep_all=True,
            min_face_size=settings.min_face_size,
            thresholds=list(settings.thresholds),
            device=torch.device(device),
        )

    def detect(self, pictures: Sequence[Picture], short_side: int) -> list[list[Face]]:
        """Faces in each picture, largest first, with crops from the full-resolution frame."""
        results: list[list[Face]] = []
        step = self.settings.detect_batch_size
        for start in range(0, len(pictures), step):
            chunk = pictures[start : start + step]
            results.extend(self._detect_chunk(chunk, short_side))
        return results

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
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # facenet-pytorch's numpy deprecation noise
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for slot, index in enumerate(group):
                picture = pictures[index]
                scale = picture.size[0] / small[index].shape[1]
                found[index] = self._faces_in_frame(
                    picture, boxes[slot], probs[slot], points[slot], scale
                )
        return found

    def _faces_in_frame(
        self,
        picture: Picture,
        boxes: object,
        probs: object,
        points: object,
        scale: float,
    ) -> list[Face]:
        if boxes is None:
            return []
        # detect() hands back object arrays: cast before any maths.
        box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale
        prob_array = np.asarray(probs, dtype=np.float64).reshape(-1)
        point_array = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2) * scale
        keep = [i for i, p in enumerate(prob_array) if p >= self.settings.min_confidence]
        areas = (box_array[:, 2] - box_array[:, 0]) * (box_array[:, 3] - box_array[:, 1])
        keep.sort(key=lambda i: -areas[i])
        keep = keep[: self.settings.max_faces_per_frame]
        if not keep:
            return []
        rgb = picture.to_rgb()
        faces = []
        for i in keep:
            box: Box = (
                float(box_array[i, 0]),
                float(box_array[i, 1]),
                float(box_array[i, 2]),
                float(box_array[i, 3]),
            )
            faces.append(
                Face(
                    box=box,
                    confidence=float(prob_array[i]),
                    landmarks=tuple((float(x), float(y)) for x, y in point_array[i]),
                    crop=crop_face(rgb, box, self.settings.margin, self.crop_size),
                )
            )
        return faces


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


def assign_tracks(boxes_per_frame: Sequence[Sequence[Box]]) -> list[list[int]]:
    """Link faces across frames into tracks (people), greedily by overlap with each track's
    latest box. Returns a track id for every box, ids numbered by first appearance."""
    track_boxes: list[Box] = []
    assigned: list[list[int]] = []
    for boxes in boxes_per_frame:
        pairs = sorted(
            (
                (score, box_index, track_id)
                for box_index, box in enumerate(boxes)
                for track_id, last in enumerate(track_boxes)
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
                ids[box_index] = len(track_boxes)
                track_boxes.append(box)
            else:
                track_boxes[ids[box_index]] = box
        assigned.append(ids)
    return assigned
