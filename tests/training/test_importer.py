from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.cli import EXIT_OK, EXIT_USAGE, main
from deepfake_stream.config import Settings
from deepfake_stream.media import decode_image, sniff_file
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.data import read_face_folder
from deepfake_stream.training.dataset import IMPORTED_CROP_SIDE
from deepfake_stream.training.importer import (
    COLUMNS,
    FaceImporter,
    ImportOptions,
    difference_hash,
    group_of,
)

PEOPLE = {"Aaron_Peirsol", "Aaron_Sorkin"}


@pytest.fixture
def photos(fixtures: Path, tmp_path: Path) -> Path:
    """The four LFW photos of two people, and a photo without a face."""
    folder = tmp_path / "photos"
    shutil.copytree(fixtures / "faces_import", folder)
    shutil.copy(fixtures / "noface.jpg", folder / "street.jpg")
    return folder


def rows_of(folder: Path) -> list[dict[str, str]]:
    with (folder / "metadata.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_import_cuts_each_face_as_the_service_does(
    photos: Path, tmp_path: Path, settings: Settings, analyzer: Analyzer
) -> None:
    dest = tmp_path / "faces"
    report = FaceImporter(settings).run(
        photos, dest, ImportOptions(source="lfw", group_by="person")
    )
    assert (report.imported, report.no_face, report.duplicates) == (4, 1, 0)
    rows = rows_of(dest)
    assert list(rows[0]) == list(COLUMNS)
    assert {row["group"] for row in rows} == {f"lfw:{person}" for person in PEOPLE}
    assert {(row["label"], row["family"], row["source"]) for row in rows} == {
        ("REAL", "real", "lfw")
    }
    for row in rows:
        photo = photos / Path(row["file"]).name
        picture, _ = decode_image(photo, sniff_file(photo), settings.limits)
        (found,) = analyzer.faces.detect([picture], settings.faces.detect_short_side_image)
        served = found[0].crop  # the largest face, JPEG-encoded as the service encodes it
        stored = np.asarray(Image.open(dest / row["file"]).convert("RGB"))
        assert stored.shape == served.shape == (224, 224, 3)
        assert np.array_equal(stored, served)
        # The landmarks are the service's, in the crop's pixels: the eyes sit above the mouth.
        points = np.array(row["landmarks"].split(), dtype=float).reshape(5, 2)
        assert ((points >= 0) & (points <= IMPORTED_CROP_SIDE)).all()
        assert points[:2, 1].max() < points[3:, 1].min()
        assert int(row["face_side"]) > 50 and float(row["confidence"]) >= 0.9
    records = read_face_folder(dest)
    assert {r.source for r in records} == {"lfw"}
    assert all(r.landmarks is not None and len(r.landmarks) == 10 for r in records)


def test_an_interrupted_import_resumes_and_duplicates_are_skipped(
    photos: Path, tmp_path: Path, settings: Settings
) -> None:
    importer = FaceImporter(settings)
    dest = tmp_path / "faces"
    importer.run(photos, dest, ImportOptions(source="lfw", group_by="person", limit=2, seed=1))
    assert len(rows_of(dest)) == 2
    again = importer.run(photos, dest, ImportOptions(source="lfw", group_by="person"))
    assert (again.imported, again.already_there) == (2, 2)
    assert len({row["file"] for row in rows_of(dest)}) == 4
    # The same photo published again, smaller and recompressed, is one photo.
    republished = tmp_path / "republished"
    republished.mkdir()
    with Image.open(photos / "Aaron_Sorkin_0001.jpg") as image:
        image.resize((120, 120)).save(republished / "sorkin.jpg", quality=60)
    with Image.open(photos / "Aaron_Peirsol_0001.jpg") as image:  # the same pixels as PNG
        image.save(republished / "peirsol.png")
    with Image.open(photos / "Aaron_Sorkin_0002.jpg") as image:  # not a copy: kept or faceless
        image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(republished / "upside_down.jpg")
    other = tmp_path / "other"
    report = importer.run(
        republished,
        other,
        ImportOptions(source="copies", skip_duplicates_of=(dest,)),
    )
    assert report.duplicates == 2  # the republished Sorkin and the PNG copy of Peirsol
    assert report.imported + report.no_face == 1


def test_fakes_carry_their_family_and_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="family"):
        ImportOptions(source="gan", label="FAKE")
    with pytest.raises(ValueError, match="family"):
        ImportOptions(source="x", family="generated")
    with pytest.raises(ValueError, match="source name"):
        ImportOptions(source="../up")
    assert group_of(Path("Aaron_Sorkin_0002.jpg"), "person") == "Aaron_Sorkin"
    assert group_of(Path("Aaron_Sorkin_0002.jpg"), "image") == "Aaron_Sorkin_0002"


def test_difference_hash_sees_a_resized_copy_and_not_another_image(fixtures: Path) -> None:
    with Image.open(fixtures / "faces_import" / "Aaron_Sorkin_0001.jpg") as image:
        original = np.asarray(image.convert("RGB"))
        smaller = np.asarray(image.convert("RGB").resize((97, 97)))
    with Image.open(fixtures / "faces_import" / "Aaron_Peirsol_0001.jpg") as image:
        other = np.asarray(image.convert("RGB"))
    assert bin(difference_hash(original) ^ difference_hash(smaller)).count("1") <= 3
    assert bin(difference_hash(original) ^ difference_hash(other)).count("1") > 10


def test_the_command_imports_fakes_into_a_folder_training_reads(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "gan"
    args = ["data", "import", str(photos), str(dest), "--source", "gan", "--label", "fake"]
    assert main([*args, "--family", "generated"]) == EXIT_OK
    assert "gan: 4 faces imported" in capsys.readouterr().out
    records = read_face_folder(dest)
    assert {(r.label, r.family, r.source) for r in records} == {(1, "generated", "gan")}
    assert main(["data", "import", str(tmp_path / "missing"), str(dest), "--source", "x"]) == (
        EXIT_USAGE
    )
    assert main([*args, "--family", "real"]) == EXIT_USAGE
