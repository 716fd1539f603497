"""Find where a dataset's face crops were cut from their source videos, and compare that with
our MTCNN box on the same frame: the exact crop geometry a trained model expects.

For each (video, crop, original size) given, the crop is located in the video's first frames
by normalised cross-correlation, then the side and centre of the crop are expressed in units of
the MTCNN box found on that frame.

    .venv/bin/python scripts/locate_crops.py \\
        ../shared/media/video/real/dfdc_lynaeydofd.mp4:../shared/data/dfdc-faces/real/lynaeydofd.jpg:223
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import numpy as np
from numpy.fft import irfft2, rfft2
from PIL import Image

from deepfake_stream.config import FaceSettings
from deepfake_stream.detection.faces import FaceDetector
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture

SEARCH_FRAMES = (0, 1, 2, 5, 10, 30, 60, 150)
SEARCH_SCALE = 4  # correlate at a quarter of the resolution: plenty for a ~200 px crop


def locate(frame: np.ndarray, template: np.ndarray) -> tuple[int, int, float]:
    """Top-left corner of the best normalised cross-correlation match, and its score."""
    image, pattern = frame.astype(np.float64), template.astype(np.float64)
    pattern = (pattern - pattern.mean()) / (pattern.std() + 1e-9)
    height, width = image.shape
    h, w = pattern.shape
    correlation = irfft2(
        rfft2(image, s=(height, width)) * rfft2(pattern[::-1, ::-1], s=(height, width)),
        s=(height, width),
    )[h - 1 :, w - 1 :]

    def window_sums(values: np.ndarray) -> np.ndarray:
        c = np.cumsum(np.cumsum(np.pad(values, ((1, 0), (1, 0))), 0), 1)
        return np.asarray(c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w])

    count = h * w
    mean = window_sums(image) / count
    variance = window_sums(image * image) / count - mean**2
    score = correlation / (np.sqrt(np.maximum(variance, 1e-9)) * count)
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(x), int(y), float(score[y, x])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pairs", nargs="+", help="VIDEO:CROP:ORIGINAL_SIDE")
    args = parser.parse_args()
    detector = FaceDetector(FaceSettings(), get_spec("srm_efficientnet_lite0").crop)
    for pair in args.pairs:
        video, crop, side_text = pair.rsplit(":", 2)
        side = int(side_text)
        template = Image.open(crop).convert("L").resize((side, side))
        small_template = np.asarray(template.resize((side // SEARCH_SCALE,) * 2))
        best: tuple[float, int, int, np.ndarray] | None = None
        with av.open(video) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index > max(SEARCH_FRAMES):
                    break
                if index not in SEARCH_FRAMES:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                gray = Image.fromarray(rgb).convert("L")
                small = np.asarray(
                    gray.resize((gray.width // SEARCH_SCALE, gray.height // SEARCH_SCALE))
                )
                x, y, score = locate(small, small_template)
                if best is None or score > best[0]:
                    best = (score, x * SEARCH_SCALE, y * SEARCH_SCALE, rgb)
        assert best is not None
        score, x, y, rgb = best
        (faces,) = detector.detect([ImagePicture(rgb)], short_side=360)
        if not faces:
            print(f"{Path(video).name}: no face found on the matching frame")
            continue
        bx1, by1, bx2, by2 = faces[0].box
        box_h, box_w = by2 - by1, bx2 - bx1
        print(
            f"{Path(video).name}: match {score:.2f} at ({x}, {y}) side {side}; "
            f"side/box height {side / box_h:.3f}, side/box width {side / box_w:.3f}, "
            f"centre shift x {(x + side / 2 - (bx1 + bx2) / 2) / box_h:+.3f}, "
            f"y {(y + side / 2 - (by1 + by2) / 2) / box_h:+.3f} box heights"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
