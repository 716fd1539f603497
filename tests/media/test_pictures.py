from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import LimitSettings, SamplingSettings
from deepfake_stream.media import (
    load_media,
)

LIMITS = LimitSettings()
SAMPLING = SamplingSettings()


@pytest.mark.parametrize("name", ["fake_dfdc_2s.mp4", "rotated90_2s.mp4", "photo.jpg"])
@pytest.mark.parametrize("box", [(101, 37, 219, 155), (-30, -20, 90, 100), (200, 150, 300, 290)])
def test_region_crop_equals_the_whole_frame_conversion(
    fixtures: Path, name: str, box: tuple[int, int, int, int]
) -> None:
    frames = load_media(fixtures / name, LIMITS, SAMPLING).frames
    picture = frames[min(5, len(frames) - 1)].picture
    whole = picture.to_rgb()
    width, height = picture.size
    expected = np.zeros((box[3] - box[1], box[2] - box[0], 3), np.uint8)
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
    expected[y1 - box[1] : y2 - box[1], x1 - box[0] : x2 - box[0]] = whole[y1:y2, x1:x2]
    region = np.asarray(picture.crop_image(box))
    assert region.shape == expected.shape
    if name == "photo.jpg":  # the decoded pixels themselves, black outside
        assert np.array_equal(region, expected)
    # Chroma at the region's edge is interpolated from fewer neighbours: tiny differences only.
    assert np.abs(region.astype(int) - expected.astype(int)).mean() < 1.0
