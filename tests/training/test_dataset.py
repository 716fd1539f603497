from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.training.data import read_face_folder
from deepfake_stream.training.dataset import crop_landmarks


def test_landmarks_found_in_batches_match_one_crop_at_a_time(
    face_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = read_face_folder(face_folder)
    batched = crop_landmarks(records, 224)
    monkeypatch.setattr("deepfake_stream.training.dataset.LANDMARK_BATCH", 1)
    single = crop_landmarks(records, 224)
    assert batched.keys() == single.keys() and len(batched) >= 3
    for path, points in batched.items():
        np.testing.assert_allclose(points, single[path], atol=0.5)
