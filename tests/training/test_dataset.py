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


def test_landmarks_are_those_of_the_records_asked_for_whatever_the_cache_holds(
    face_folder: Path, tmp_path: Path
) -> None:
    records = [r for r in read_face_folder(face_folder) if r.label == 0]
    cache = tmp_path / "landmarks.npz"
    every = crop_landmarks(records, 224, cache)
    assert len(every) >= 3
    # A later recipe that synthesises from fewer faces gets only theirs from the same cache.
    kept = [r for r in records if r.path in every][:2]
    assert set(crop_landmarks(kept, 224, cache)) == {r.path for r in kept}
    with np.load(cache) as stored:
        assert len(stored.files) == len(every)  # the cache keeps them all
