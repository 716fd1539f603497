"""MTCNN (facenet-pytorch's three networks and weights) run as one batched cascade: P-Net over
an image pyramid, then R-Net and O-Net on the candidates, with crops cut by roi_align."""

from __future__ import annotations

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

# Frames darker than this mean luminance (0..1) are brightened for the detector only:
# MTCNN misses faces in underexposed footage that a person sees easily.
DARK_FRAME_LUMINANCE = 0.25
BRIGHTENED_LUMINANCE = 0.45
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


# Per frame: boxes (N, 4) x1, y1, x2, y2; probabilities (N,); landmarks (N, 5, 2) as (x, y).
Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


class Mtcnn:
    """The cascade on batches of same-size uint8 RGB frames (N, H, W, 3)."""

    def __init__(self, device: torch.device) -> None:
        from facenet_pytorch import MTCNN

        self.device = device
        # Only MTCNN's three networks (weights from the facenet-pytorch wheel) are used: the
        # cascade below batches the R-Net/O-Net crops instead of resizing them one by one.
        mtcnn = MTCNN(device=self.device).eval()
        # channels_last: twice as fast for P-Net's convolutions and pooling on CPU.
        self._pnet = mtcnn.pnet.to(memory_format=torch.channels_last)
        self._rnet = mtcnn.rnet.to(memory_format=torch.channels_last)
        self._onet = mtcnn.onet.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def detect(
        self, batch: np.ndarray, min_face_size: float, thresholds: tuple[float, float, float]
    ) -> list[Detections]:
        """MTCNN's P-Net, R-Net, O-Net cascade on a batch of same-size frames.

        Follows facenet-pytorch's detect_face, except that the candidate crops of each stage
        are cut and resized in one roi_align call (there: one interpolate call per box, which
        was a third of the detector's time). Returns (boxes, probs, landmarks) per frame.
        """
        imgs = _as_nchw(batch, self.device)
        boxes, image_inds = self._propose(imgs, min_face_size, thresholds[0])
        return self._refine(imgs, boxes, image_inds, thresholds, max_refined=None)

    @torch.inference_mode()
    def refine(
        self,
        batch: np.ndarray,
        candidates: np.ndarray,
        thresholds: tuple[float, float, float],
        max_refined: int,
    ) -> list[Detections]:
        """R-Net and O-Net only, on the same candidate boxes (K, 4) in every frame of the batch:
        where a face is expected, P-Net's pyramid is not needed. Only R-Net's best
        `max_refined` per frame go on to O-Net, the costliest stage."""
        imgs = _as_nchw(batch, self.device)
        count = imgs.shape[0]
        boxes = torch.as_tensor(candidates, dtype=imgs.dtype).repeat(count, 1)
        boxes = torch.cat([boxes, torch.ones((len(boxes), 1), dtype=imgs.dtype)], dim=1)
        image_inds = torch.arange(count).repeat_interleave(len(candidates))
        return self._refine(imgs, boxes, image_inds, thresholds, max_refined)

    def _propose(
        self, imgs: torch.Tensor, min_face_size: float, threshold: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """P-Net over the image pyramid: square candidate boxes and the frame of each."""
        level = imgs.contiguous()  # the resize is faster on plain NCHW
        _, _, height, width = imgs.shape
        scale = 12.0 / min_face_size
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
            level_boxes, level_owners = generateBoundingBox(reg, probs[:, 1], scale, threshold)
            candidates.append(level_boxes)
            owners.append(level_owners)
            keep = nms_per_frame(level_boxes[:, :4], level_boxes[:, 4], level_owners, MTCNN_NMS[0])
            picks.append(keep + offset)
            offset += level_boxes.shape[0]
            scale *= MTCNN_PYRAMID_FACTOR
            side *= MTCNN_PYRAMID_FACTOR
        if not candidates:
            return torch.zeros((0, 5)), torch.zeros(0, dtype=torch.int64)
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
        return rerec(boxes), image_inds

    def _refine(
        self,
        imgs: torch.Tensor,
        boxes: torch.Tensor,
        image_inds: torch.Tensor,
        thresholds: tuple[float, float, float],
        max_refined: int | None,
    ) -> list[Detections]:
        """R-Net then O-Net on candidate boxes (x1, y1, x2, y2, score) of the frames."""
        count = imgs.shape[0]
        empty = [(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))) for _ in range(count)]
        if len(boxes) == 0:
            return empty
        # R-Net refines the candidates.
        boxes, image_inds, crops = self._stage_crops(imgs, boxes, image_inds, 24)
        if len(boxes) == 0:
            return empty
        regression, scores = self._rnet((crops - MTCNN_PIXEL_MEAN) * MTCNN_PIXEL_SCALE)
        passed = scores[:, 1] > thresholds[1]
        boxes = torch.cat((boxes[passed, :4], scores[passed, 1:2]), dim=1)
        image_inds, regression = image_inds[passed], regression[passed]
        keep = nms_per_frame(boxes[:, :4], boxes[:, 4], image_inds, MTCNN_NMS[2])
        if max_refined is not None:
            keep = _top_per_image(keep, image_inds[keep], max_refined)
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


def _as_nchw(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """NHWC uint8 viewed as NCHW float: channels_last in memory, as the networks want it."""
    writable = np.require(batch, requirements="W")  # a decoded photo's pixels are read-only
    return torch.as_tensor(writable, device=device).permute(0, 3, 1, 2).float()


def _top_per_image(order: torch.Tensor, owners: torch.Tensor, limit: int) -> torch.Tensor:
    """The first `limit` entries of `order` (sorted best first) for each image."""
    if len(order) <= limit:
        return order
    rank = torch.zeros_like(owners)
    for owner in torch.unique(owners):
        mine = owners == owner
        rank[mine] = torch.arange(int(mine.sum()), device=owners.device)
    return order[rank < limit]
