from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.detection.registry import get_spec
from deepfake_stream.training.data import read_face_folder
from deepfake_stream.training.dataset import crop_landmarks, synthesis_landmarks
from support.training import tiny_train_settings

LITE0 = get_spec("srm_efficientnet_lite0").crop


def test_landmarks_found_in_batches_match_one_crop_at_a_time(
    face_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = read_face_folder(face_folder)
    batched = crop_landmarks(records, LITE0)
    monkeypatch.setattr("deepfake_stream.training.dataset.LANDMARK_BATCH", 1)
    single = crop_landmarks(records, LITE0)
    assert batched.keys() == single.keys() and len(batched) >= 3
    for path, points in batched.items():
        np.testing.assert_allclose(points, single[path], atol=0.5)


def test_landmarks_are_those_of_the_records_asked_for_whatever_the_cache_holds(
    face_folder: Path, tmp_path: Path
) -> None:
    records = [r for r in read_face_folder(face_folder) if r.label == 0]
    cache = tmp_path / "landmarks.npz"
    every = crop_landmarks(records, LITE0, cache)
    assert len(every) >= 3
    # A later recipe that synthesises from fewer faces gets only theirs from the same cache.
    kept = [r for r in records if r.path in every][:2]
    assert set(crop_landmarks(kept, LITE0, cache)) == {r.path for r in kept}
    with np.load(cache) as stored:
        assert len(stored.files) == len(every)  # the cache keeps them all


def test_synthesis_landmarks_follow_the_recipe_sources(face_folder: Path, tmp_path: Path) -> None:
    # The fusion fit and training both take these: the faces a recipe synthesises fakes from
    # must be the same for both, or the fusion is fitted on samples training never scored.
    records = read_face_folder(face_folder)
    synthesising = {"real": 0.5, "sbi": 0.5}
    every = synthesis_landmarks(
        tiny_train_settings(face_folder, tmp_path, synthesising), records, LITE0
    )
    assert len(every) >= 3
    sources = sorted({r.source for r in records})
    kept = synthesis_landmarks(
        tiny_train_settings(face_folder, tmp_path, synthesising, synthesise_from=sources),
        records,
        LITE0,
    )
    assert kept.keys() == every.keys()
    elsewhere = tiny_train_settings(face_folder, tmp_path, synthesising, synthesise_from=["lfw"])
    assert synthesis_landmarks(elsewhere, records, LITE0) == {}
    plain = tiny_train_settings(face_folder, tmp_path, {"real": 0.5, "fake": 0.5})
    assert synthesis_landmarks(plain, records, LITE0) == {}
