"""How the dataset's face crops relate to our MTCNN boxes (groundwork for training crops).

Re-detects the face on a sample of crops from a metadata.csv folder (e.g.
../shared/data/dfdc-faces) and reports the crop's side and centre in units of the MTCNN box,
the numbers a serving-side crop needs to reproduce the training crops.

    .venv/bin/python scripts/measure_crops.py ../shared/data/dfdc-faces --sample 1000
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from deepfake_stream.config import FaceSettings
from deepfake_stream.detection.faces import FaceDetector
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import ImagePicture

SAMPLE_SEED = 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    with (args.root / "metadata.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    random.Random(SAMPLE_SEED).shuffle(rows)
    # Low thresholds: the crops are known to hold a face; we want its box, however cut.
    settings = FaceSettings(min_confidence=0.5, min_confidence_in_track=0.5)
    detector = FaceDetector(settings, get_spec("srm_efficientnet_lite0").crop)
    side_over_long, side_over_height, side_over_width, shift_x, shift_y = [], [], [], [], []
    missing = 0
    for row in rows[: args.sample]:
        pixels = np.asarray(Image.open(args.root / row["file"]).convert("RGB"))
        (faces,) = detector.detect([ImagePicture(pixels)], short_side=pixels.shape[0])
        if not faces:
            missing += 1
            continue
        x1, y1, x2, y2 = faces[0].box
        width, height = x2 - x1, y2 - y1
        side = pixels.shape[1]
        side_over_long.append(side / max(width, height))
        side_over_height.append(side / height)
        side_over_width.append(side / width)
        shift_x.append((side / 2 - (x1 + x2) / 2) / height)
        shift_y.append((side / 2 - (y1 + y2) / 2) / height)
    print(f"crops measured: {len(side_over_long)}, no face re-detected: {missing}")
    for name, values in (
        ("crop side / box long side", side_over_long),
        ("crop side / box height", side_over_height),
        ("crop side / box width", side_over_width),
        ("crop centre - box centre, x / box height", shift_x),
        ("crop centre - box centre, y / box height", shift_y),
    ):
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        print(f"{name:42} median {p50:+.3f}  p10 {p10:+.3f}  p90 {p90:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
