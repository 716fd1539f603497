from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.detection.registry import get_spec
from deepfake_stream.training.data import FaceRecord
from deepfake_stream.training.recipe import DFDC_CROP
from deepfake_stream.training.samples import (
    DonorPool,
    RenderOptions,
    Sample,
    SampleRenderer,
    build_samples,
    jitter_geometry,
    sample_weights,
    subsample_per_family,
)


def _records(fixtures: Path) -> list[FaceRecord]:
    photo = fixtures / "photo.jpg"
    return [
        FaceRecord(photo, 0, "a", "real"),
        FaceRecord(photo, 0, "b", "real"),
        FaceRecord(photo, 1, "a", "fake", family="dfdc"),
        FaceRecord(photo, 1, "c", "fake", family="generated"),
    ]


def test_synthetic_families_are_made_from_reals_with_landmarks(fixtures: Path) -> None:
    records = _records(fixtures)
    landmarks = {fixtures / "photo.jpg": np.zeros((5, 2))}
    samples = build_samples(records, ["swap", "mouth"], landmarks)
    counts = Counter(s.family for s in samples)
    assert counts == {"real": 2, "dfdc": 1, "generated": 1, "swap": 2, "mouth": 2}
    assert all(s.label == (0 if s.family == "real" else 1) for s in samples)
    assert Counter(s.family for s in build_samples(records, ["swap"], {})) == {
        "real": 2,
        "dfdc": 1,
        "generated": 1,
    }
    with pytest.raises(ValueError, match="unknown synthetic"):
        build_samples(records, ["morph"], landmarks)


def test_draw_weights_give_each_family_its_share(fixtures: Path) -> None:
    samples = build_samples(_records(fixtures), ["sbi"], {fixtures / "photo.jpg": np.zeros((5, 2))})
    shares = {"real": 0.5, "dfdc": 0.2, "generated": 0.1, "sbi": 0.2}
    weights = np.array(sample_weights(samples, shares))
    assert weights.sum() == pytest.approx(1.0)
    for family, share in shares.items():
        chosen = [w for w, s in zip(weights, samples, strict=True) if s.family == family]
        assert sum(chosen) == pytest.approx(share)
    with pytest.raises(ValueError, match="no samples"):
        sample_weights(samples, {"real": 0.5, "swap": 0.5})


def test_subsample_keeps_at_most_n_per_family(fixtures: Path) -> None:
    record = _records(fixtures)[0]
    samples = [Sample(record, "real")] * 5 + [Sample(record, "sbi")] * 2
    kept = subsample_per_family(samples, 3, seed=0)
    assert Counter(s.family for s in kept) == {"real": 3, "sbi": 2}
    assert subsample_per_family(samples, None, seed=0) == samples


def test_donors_come_from_other_groups_and_a_similar_pose(fixtures: Path) -> None:
    frontal = np.array([[80, 100], [140, 100], [110, 130], [88, 160], [132, 160]], float)
    profile = frontal + np.array([[-30, 0], [-10, 0], [-45, 0], [-30, 0], [-15, 0]])
    target = FaceRecord(fixtures / "photo.jpg", 0, "target", "real")
    others = [
        FaceRecord(fixtures / f"face{i}.jpg", 0, f"g{i}", "real") for i in range(40)
    ]  # paths only name them here: a pool reads no pixels
    landmarks = {target.path: frontal}
    landmarks.update({r.path: (frontal + 2 if i % 2 else profile) for i, r in enumerate(others)})
    pool = DonorPool([target, *others], landmarks)
    rng = np.random.default_rng(0)
    picks = [pool.pick(target, rng) for _ in range(50)]
    assert all(p is not None and p.group != "target" for p in picks)
    frontal_picks = sum(np.allclose(landmarks[p.path], frontal + 2) for p in picks if p)
    assert frontal_picks == 50  # among 24 candidates a frontal face is always the nearest


def test_rendering_is_deterministic_and_ends_in_the_crop_contract(fixtures: Path) -> None:
    records = _records(fixtures)
    landmarks = {
        fixtures / "photo.jpg": np.array(
            [[80, 100], [140, 100], [110, 130], [88, 160], [132, 160]], float
        )
    }
    crop = get_spec("srm_efficientnet_lite0").crop.with_geometry(DFDC_CROP)
    options = RenderOptions(crop=crop, geometry_jitter=0.05, seed=0)
    renderer = SampleRenderer(options, landmarks, DonorPool(records, landmarks))
    for family in ("real", "swap", "mouth", "resolution", "sbi"):
        sample = Sample(records[0], family)
        first = renderer.render(sample, 7, 0, training=True)
        assert first.shape == (224, 224, 3) and first.dtype == np.uint8
        assert np.array_equal(first, renderer.render(sample, 7, 0, training=True))
        assert not np.array_equal(first, renderer.render(sample, 7, 1, training=True))


def test_geometry_jitter_keeps_size_and_varies() -> None:
    crop = np.random.default_rng(0).integers(0, 255, (224, 224, 3)).astype(np.uint8)
    a = jitter_geometry(crop, np.random.default_rng(1), 0.1)
    b = jitter_geometry(crop, np.random.default_rng(2), 0.1)
    assert a.shape == crop.shape and not np.array_equal(a, b)
    assert jitter_geometry(crop, np.random.default_rng(1), 0.0) is crop


def test_real_source_shares_split_the_real_draws_among_sources(fixtures: Path) -> None:
    photo = fixtures / "photo.jpg"
    reals = [FaceRecord(photo, 0, f"d{i}", "dfdc") for i in range(9)]
    reals.append(FaceRecord(photo, 0, "f0", "ffhq"))
    fakes = [FaceRecord(photo, 1, "g0", "stylegan", family="generated")]
    samples = build_samples([*reals, *fakes], [], {})
    weights = sample_weights(samples, {"real": 0.5, "generated": 0.5}, {"dfdc": 0.5, "ffhq": 0.5})
    by_source = Counter[str]()
    for sample, weight in zip(samples, weights, strict=True):
        by_source[sample.record.source] += weight
    assert by_source == pytest.approx({"dfdc": 0.25, "ffhq": 0.25, "stylegan": 0.5})
    # Without them, reals are drawn in proportion to their sources' sizes.
    plain = sample_weights(samples, {"real": 0.5, "generated": 0.5})
    assert sum(w for s, w in zip(samples, plain, strict=True) if s.record.source == "ffhq") == (
        pytest.approx(0.05)
    )
    with pytest.raises(ValueError, match="come from"):
        sample_weights(samples, {"real": 0.5, "generated": 0.5}, {"dfdc": 1.0})


def test_swap_donors_come_from_the_faces_own_source(fixtures: Path) -> None:
    points = np.array([[80, 100], [140, 100], [110, 130], [88, 160], [132, 160]], float)
    records = [
        FaceRecord(fixtures / f"{source}{i}.jpg", 0, f"{source}{i}", source)
        for source in ("utkface", "ffhq")
        for i in range(10)
    ]
    pool = DonorPool(records, {r.path: points + i for i, r in enumerate(records)})
    rng = np.random.default_rng(0)
    for record in records:
        donor = pool.pick(record, rng)
        assert donor is not None and donor.source == record.source
        assert donor.group != record.group
    stranger = FaceRecord(fixtures / "x.jpg", 0, "x", "lfw")
    assert pool.pick(stranger, rng) is None
