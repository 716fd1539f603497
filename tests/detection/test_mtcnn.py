from __future__ import annotations

import numpy as np
import pytest
import torch

from deepfake_stream.detection.mtcnn import brighten_if_dark, nms_per_frame


def test_dark_frames_are_brightened_for_the_detector_only() -> None:
    dark = np.full((2, 8, 8, 3), 20, dtype=np.uint8)
    bright = np.full((1, 8, 8, 3), 180, dtype=np.uint8)
    batch = np.concatenate([dark, bright])
    out = brighten_if_dark(batch)
    assert out[:2].mean() / 255 == pytest.approx(0.45, abs=0.02)
    assert np.array_equal(out[2], batch[2])
    assert batch[:2].max() == 20  # input untouched


def test_nms_never_suppresses_a_box_of_another_frame() -> None:
    # Frame 1's box lies partly outside its frame (negative coordinates): shifted by the usual
    # per-frame offset it would land exactly on frame 0's box.
    boxes = torch.tensor([[100.0, 100.0, 200.0, 200.0], [-101.0, -101.0, -1.0, -1.0]])
    scores = torch.tensor([0.9, 0.8])
    frames = torch.tensor([0, 1])
    for overlap in ("union", "min"):
        assert sorted(nms_per_frame(boxes, scores, frames, 0.5, overlap).tolist()) == [0, 1]


def test_min_overlap_nms_of_a_frame_does_not_depend_on_its_batch() -> None:
    # Two overlapping boxes with the same (saturated) score: the first one listed wins,
    # whatever else is in the batch.
    frame = torch.tensor([[10.0, 10.0, 110.0, 110.0], [0.0, 0.0, 120.0, 120.0]])
    alone = nms_per_frame(frame, torch.ones(2), torch.zeros(2, dtype=torch.long), 0.7, "min")
    corners = torch.rand(40, 4, generator=torch.Generator().manual_seed(0)) * 50
    others = corners + torch.tensor([0.0, 0.0, 60.0, 60.0])
    batch = torch.cat([others, frame])
    frames = torch.cat([torch.arange(40) % 3, torch.full((2,), 3)])
    kept = nms_per_frame(batch, torch.ones(42), frames, 0.7, "min")
    assert alone.tolist() == [0]
    assert [int(i) - 40 for i in kept if frames[i] == 3] == [0]
