from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.config import LimitSettings, SamplingSettings
from deepfake_stream.errors import (
    TooManyPixelsError,
)
from deepfake_stream.media import (
    MediaKind,
    load_media,
)

LIMITS = LimitSettings()
SAMPLING = SamplingSettings()


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo.webp", "photo.bmp"])
def test_images_load_as_rgb(fixtures: Path, name: str) -> None:
    media = load_media(fixtures / name, LIMITS, SAMPLING)
    assert media.info.kind is MediaKind.IMAGE
    assert len(media.frames) == 1
    rgb = media.frames[0].picture.to_rgb()
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
    assert rgb.shape[:2] == (media.info.height, media.info.width)


def test_exif_orientation_is_applied(fixtures: Path) -> None:
    stored = Image.open(fixtures / "photo_exif_rot6.jpg")
    media = load_media(fixtures / "photo_exif_rot6.jpg", LIMITS, SAMPLING)
    # Stored landscape, shown portrait: the loader must turn it.
    assert stored.size[0] > stored.size[1]
    assert (media.info.width, media.info.height) == (stored.size[1], stored.size[0])
    assert media.info.rotation == 270
    upright = np.asarray(stored.transpose(Image.Transpose.ROTATE_270).convert("RGB"), dtype=float)
    assert np.abs(media.frames[0].picture.to_rgb().astype(float) - upright).mean() < 1.0


def test_image_short_side_downscale(fixtures: Path) -> None:
    picture = load_media(fixtures / "photo.jpg", LIMITS, SAMPLING).frames[0].picture
    small = picture.to_rgb(max_short_side=120)
    assert min(small.shape[:2]) == 120
    assert small.shape[0] / small.shape[1] == pytest.approx(480 / 390, rel=0.03)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12_000, 12_000)).save(bomb)  # 144 Mpx in a few kilobytes
    assert bomb.stat().st_size < 100_000
    with pytest.raises(TooManyPixelsError):
        load_media(bomb, LIMITS, SAMPLING)
