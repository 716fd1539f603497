"""Faces: MTCNN detection on downscaled frames, their crops (crop.py), and tracks across frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from facenet_pytorch.models.utils.detect_face import (
    bbreg,
    generateBoundingBox,
    pad,
    rerec,
)
from torch.nn.functional import interpolate
from torchvision.ops import batched_nms, roi_align

from ..config import FaceSettings
from ..media import Picture
from .crop import Box, CropSpec, crop_face

# Frames darker than this mean luminance (0..1) are brightened for the detector only:
# MTCNN misses faces in underexposed footage that a person sees easily.
DARK_FRAME_LUMINANCE = 0.25
BRIGHTENED_LUMINANCE = 0.45
# Two boxes in consecutive samples belong to one person when they overlap this much...
TRACK_MIN_IOU = 0.3
# ...or when their centres are closer than this share of the box size and sizes agree.
TRACK_MAX_CENTRE_SHIFT = 0.6
TRACK_MAX_SIZE_RATIO = 1.6

# MTCNN's image pyramid step, and its input normalisation.
MTCNN_PYRAMID_FACTOR = 0.709
MTCNN_PIXEL_MEAN = 127.5
MTCNN_PIXEL_SCALE = 1 / 128
MTCNN_NMS = (0.5, 0.7, 0.7, 0.7)  # per scale, across scales, after R-Net, after O-Net ("Min")

# Samples per output pixel side when cutting R-Net/O-Net crops: 2 keeps the boxes within a few
# percent of exact area resampling at a fifth of its cost on large faces.
ROI_SAMPLES = 2
# P-Net candidates per frame passed on to R-Net, best first. Textured scenes make thousands, and
# R-Net's time grows with them; real faces score near the top.
MTCNN_MAX_CANDIDATES_PER_FRAME = 50


@dataclass(frozen=True)
class Face:
    box: Box  # detected face box
    confidence: float  # MTCNN's final-stage probability
    landmarks: tuple[tuple[float, float], ...]  # eyes, nose, mouth corners (x, y)
    crop: np.ndarray  # the crop under the detector's CropSpec, size x size x 3, uint8


def nms_per_frame(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    frames: torch.Tensor,
    threshold: float,
    overlap: Literal["union", "min"] = "union",
) -> torch.Tensor:
    """Non-maximum suppression within each frame of a batch; returns the kept indices.

    A frame's faces must not depend on the other frames of its batch. torchvision's batched
    NMS keeps frames apart by shifting each frame's boxes by frame index x (largest coordinate
    + 1), which fails for boxes with negative coordinates (faces cut by the frame's edge):
    shifting every box to start at 0 first keeps them apart, and overlaps do not change.
    facenet-pytorch's "Min" NMS also breaks ties (O-Net scores saturate at 1.0) in an order
    that depends on the whole batch, so that one runs frame by frame with a stable order.
    """
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    if overlap == "union":
        survivors: torch.Tensor = batched_nms(boxes - boxes.min(), scores, frames, threshold)
        return survivors
    boxes_np, scores_np, frames_np = (t.cpu().numpy() for t in (boxes, scores, frames))
    keep: list[int] = []
    for frame in np.unique(frames_np):
        (mine,) = np.nonzero(frames_np == frame)
        kept = _nms_min_overlap(boxes_np[mine], scores_np[mine], threshold)
        keep.extend(int(mine[i]) for i in kept)
    return torch.as_tensor(keep, dtype=torch.int64, device=boxes.device)


def _nms_min_overlap(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy NMS where overlap is intersection over the smaller box (MTCNN's last stage);
    equal scores keep their input order."""
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(
            0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1
        )
        order = rest[width * height / np.minimum(area[best], area[rest]) <= threshold]
    return keep


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

    def __init__(self, settings: FaceSettings, crop: CropSpec, device: str = "cpu") -> None:
        from facenet_pytorch import MTCNN

        self.settings = settings
        self.crop = crop
        self.device = torch.device(device)
        # Only MTCNN's three networks (weights from the facenet-pytorch wheel) are used: the
        # cascade below batches the R-Net/O-Net crops instead of resizing them one by one.
        mtcnn = MTCNN(device=self.device).eval()
        # channels_last: twice as fast for P-Net's convolutions and pooling on CPU.
        self._pnet = mtcnn.pnet.to(memory_format=torch.channels_last)
        self._rnet = mtcnn.rnet.to(memory_format=torch.channels_last)
        self._onet = mtcnn.onet.to(memory_format=torch.channels_last)

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
            detections = self._cascade(batch)
            for slot, index in enumerate(group):
                picture = pictures[index]
                scale = picture.size[0] / small[index].shape[1]
                found[index] = self._faces_in_frame(picture, *detections[slot], scale)
        return found

    @torch.inference_mode()
    def _cascade(self, batch: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """MTCNN's P-Net, R-Net, O-Net cascade on a batch of same-size frames.

        Follows facenet-pytorch's detect_face, except that the candidate crops of each stage
        are cut and resized in one roi_align call (there: one interpolate call per box, which
        was a third of the detector's time). Returns (boxes, probs, landmarks) per frame.
        """
        # NHWC uint8 viewed as NCHW: channels_last in memory, as the networks want it.
        imgs = torch.as_tensor(batch, device=self.device).permute(0, 3, 1, 2).float()
        level = imgs.contiguous()  # the resize is faster on plain NCHW
        count, _, height, width = imgs.shape
        thresholds = self.settings.thresholds
        scale = 12.0 / self.settings.min_face_size
        side = min(height, width) * scale
        candidates, owners, picks, offset = [], [], [], 0
        while side >= 12:
            # Each level from the previous one, antialiased bilinear: as smooth as facenet's
            # "area" resize from the full frame, at a third of the cost.
            level = interpolate(
                level,
                size=(int(height * scale + 1), int(width * scale + 1)),
                mode="bilinear",
                antialias=True,
            )
            pnet_input = (level - MTCNN_PIXEL_MEAN) * MTCNN_PIXEL_SCALE
            reg, probs = self._pnet(pnet_input.contiguous(memory_format=torch.channels_last))
            level_boxes, level_owners = generateBoundingBox(reg, probs[:, 1], scale, thresholds[0])
            candidates.append(level_boxes)
            owners.append(level_owners)
            keep = nms_per_frame(level_boxes[:, :4], level_boxes[:, 4], level_owners, MTCNN_NMS[0])
            picks.append(keep + offset)
            offset += level_boxes.shape[0]
            scale *= MTCNN_PYRAMID_FACTOR
            side *= MTCNN_PYRAMID_FACTOR
        empty = [(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))) for _ in range(count)]
        if not candidates:
            return empty
        pick = torch.cat(picks)
        boxes, image_inds = torch.cat(candidates)[pick], torch.cat(owners)[pick]
        keep = nms_per_frame(boxes[:, :4], boxes[:, 4], image_inds, MTCNN_NMS[1])
        keep = _top_per_image(keep, image_inds[keep], MTCNN_MAX_CANDIDATES_PER_FRAME)
        boxes, image_inds = boxes[keep], image_inds[keep]
        extent_w, extent_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack(
            [
                boxes[:, 0] + boxes[:, 5] * extent_w,
                boxes[:, 1] + boxes[:, 6] * extent_h,
                boxes[:, 2] + boxes[:, 7] * extent_w,
                boxes[:, 3] + boxes[:, 8] * extent_h,
                boxes[:, 4],
            ],
            dim=1,
        )
        boxes = rerec(boxes)

        # R-Net refines the candidates.
        boxes, image_inds, crops = self._stage_crops(imgs, boxes, image_inds, 24)
        if len(boxes) == 0:
            return empty
        regression, scores = self._rnet((crops - MTCNN_PIXEL_MEAN) * MTCNN_PIXEL_SCALE)
        passed = scores[:, 1] > thresholds[1]
        boxes = torch.cat((boxes[passed, :4], scores[passed, 1:2]), dim=1)
        image_inds, regression = image_inds[passed], regression[passed]
        keep = nms_per_frame(boxes[:, :4], boxes[:, 4], image_inds, MTCNN_NMS[2])
        boxes = rerec(bbreg(boxes[keep], regression[keep]))
        image_inds = image_inds[keep]

        # O-Net scores, places the box and finds the landmarks.
        boxes, image_inds, crops = self._stage_crops(imgs, boxes, image_inds, 48)
        if len(boxes) == 0:
            return empty
        regression, landmarks, scores = self._onet((crops - MTCNN_PIXEL_MEAN) * MTCNN_PIXEL_SCALE)
        passed = scores[:, 1] > thresholds[2]
        boxes = torch.cat((boxes[passed, :4], scores[passed, 1:2]), dim=1)
        image_inds, regression, landmarks = (
            image_inds[passed],
            regression[passed],
            landmarks[passed],
        )
        box_w = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        box_h = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        points = torch.stack(
            (
                box_w * landmarks[:, :5] + boxes[:, 0:1] - 1,
                box_h * landmarks[:, 5:] + boxes[:, 1:2] - 1,
            ),
            dim=2,
        )
        boxes = bbreg(boxes, regression)
        keep = nms_per_frame(boxes[:, :4], boxes[:, 4], image_inds, MTCNN_NMS[3], "min")
        boxes_np = boxes[keep].cpu().numpy().astype(np.float64)
        points_np = points[keep].cpu().numpy().astype(np.float64)
        owners_np = image_inds[keep].cpu().numpy()
        return [
            (boxes_np[owners_np == i, :4], boxes_np[owners_np == i, 4], points_np[owners_np == i])
            for i in range(count)
        ]

    @staticmethod
    def _stage_crops(
        imgs: torch.Tensor, boxes: torch.Tensor, image_inds: torch.Tensor, size: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The in-frame part of each box, resized to size x size (area-like averaging)."""
        height, width = imgs.shape[2:]
        y, ey, x, ex = pad(boxes, width, height)  # 1-based, clipped to the frame
        valid = torch.as_tensor((ey > y - 1) & (ex > x - 1))
        rois = torch.as_tensor(
            np.stack([x - 1, y - 1, ex, ey], axis=1), dtype=imgs.dtype, device=imgs.device
        )
        rois = torch.cat([image_inds.to(imgs.dtype).unsqueeze(1), rois], dim=1)[valid]
        crops = roi_align(
            imgs, rois, output_size=(size, size), sampling_ratio=ROI_SAMPLES, aligned=True
        )
        return boxes[valid], image_inds[valid], crops

    def _faces_in_frame(
        self,
        picture: Picture,
        boxes: np.ndarray,
        probs: np.ndarray,
        points: np.ndarray,
        scale: float,
    ) -> list[Face]:
        box_array, prob_array, point_array = boxes * scale, probs, points * scale
        floor = min(self.settings.min_confidence, self.settings.min_confidence_in_track)
        keep = [i for i, p in enumerate(prob_array) if p >= floor]
        areas = (box_array[:, 2] - box_array[:, 0]) * (box_array[:, 3] - box_array[:, 1])
        keep.sort(key=lambda i: -areas[i])
        keep = keep[: self.settings.max_faces_per_frame]
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
                    crop=crop_face(picture, box, self.crop),
                )
            )
        return faces


def _top_per_image(order: torch.Tensor, owners: torch.Tensor, limit: int) -> torch.Tensor:
    """The first `limit` entries of `order` (sorted best first) for each image."""
    if len(order) <= limit:
        return order
    rank = torch.zeros_like(owners)
    for owner in torch.unique(owners):
        mine = owners == owner
        rank[mine] = torch.arange(int(mine.sum()), device=owners.device)
    return order[rank < limit]


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
