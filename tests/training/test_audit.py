from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.audit import (
    AuditFolder,
    audit,
    audit_lines,
    audit_records,
    score_records,
    source_metrics,
    source_probe,
)
from deepfake_stream.training.importer import FaceImporter, ImportOptions


@pytest.fixture(scope="module")
def folders(
    fixtures: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> list[AuditFolder]:
    """Two real sources (four LFW photos; the fixtures' studio photos) and, as the fakes,
    the very LFW photos again under another family."""
    root = tmp_path_factory.mktemp("audit")
    studio = root / "studio-photos"
    studio.mkdir()
    for name in ("photo.jpg", "photo_exif_rot6.jpg", "group.jpg"):
        shutil.copy(fixtures / name, studio / name)
    importer = FaceImporter(settings)
    importer.run(fixtures / "faces_import", root / "lfw", ImportOptions(source="lfw"))
    importer.run(studio, root / "lfw", ImportOptions(source="studio"))
    copies = ImportOptions(source="copies", label="FAKE", family="copies")
    importer.run(fixtures / "faces_import", root / "copies", copies)
    return [AuditFolder(root / "lfw"), AuditFolder(root / "copies")]


def test_the_audit_scores_every_source_against_every_family(
    folders: list[AuditFolder], analyzer: Analyzer
) -> None:
    records = audit_records(folders, per_cell=3, seed=0)
    assert sorted((r.source, r.family) for r in records) == sorted(
        [("lfw", "real")] * 3 + [("studio", "real")] * 3 + [("copies", "copies")] * 3
    )
    everything = audit_records(folders, per_cell=100, seed=0)
    result = audit(analyzer, score_records(analyzer, everything))
    assert set(result["auc"]) == {"lfw", "studio"}
    # The fakes are the LFW photos themselves: against their own source they score the same,
    # so the family cannot be told from that source at all.
    assert result["auc"]["lfw"]["copies"] == pytest.approx(0.5)
    for row in result["verdicts"].values():
        assert row["real"] + row["uncertain"] + row["fake"] == pytest.approx(1.0)
    assert result["verdicts"]["lfw"]["n"] == 4 and result["verdicts"]["studio"]["n"] == 3
    probe = result["source_probe"]
    assert probe["sources"] == ["lfw", "studio"] and probe["chance"] == 0.5
    assert 0.0 <= probe["balanced_accuracy"] <= 1.0
    assert set(probe["pair_auc"]) == {"lfw vs studio"}
    lines = audit_lines(result)
    assert "| real source | copies |" in lines and any(line.startswith("| lfw |") for line in lines)
    # What the manifest keeps of it: per real source, its verdicts and its AUC per family.
    per_source = source_metrics(result)
    assert set(per_source) == {"lfw", "studio"}
    assert per_source["lfw"]["n"] == 4 and per_source["lfw"]["auc_copies"] == pytest.approx(0.5)
    lfw = result["verdicts"]["lfw"]
    assert per_source["lfw"]["said_fake"] == lfw["fake"]
    assert sum(per_source["studio"][f"said_{v}"] for v in ("real", "uncertain", "fake")) == (
        pytest.approx(1.0)
    )


def test_the_probe_leaves_out_a_source_too_small_to_cross_validate() -> None:
    rng = np.random.default_rng(0)
    # Two separable sources of 20 faces, and a third with one face held out (as ffhq1024 has).
    embeddings = np.r_[
        rng.normal(0, 1, (20, 8)), rng.normal(3, 1, (20, 8)), rng.normal(0, 1, (1, 8))
    ]
    sources = ["utkface"] * 20 + ["lfw"] * 20 + ["ffhq1024"]
    probe = source_probe(embeddings, sources, seed=0)
    assert probe["sources"] == ["lfw", "utkface"] and probe["too_few_faces"] == ["ffhq1024"]
    assert probe["pair_auc"]["lfw vs utkface"] > 0.9
    with pytest.raises(ValueError, match="2 real sources"):
        source_probe(embeddings[20:], sources[20:], seed=0)
