from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deepfake_stream.training.data import (
    FaceRecord,
    read_face_folder,
    split_by_group,
    without_groups,
)


def _folder(tmp_path: Path, fixtures: Path, rows: list[tuple[str, str, str]]) -> Path:
    for file, _, _ in rows:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures / "photo.jpg", tmp_path / file)
    lines = ["file,label,group,original_width,original_height"]
    lines += [
        f"{file},{label},{group},{150 + i},{140 + i}" for i, (file, label, group) in enumerate(rows)
    ]
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_reads_labels_groups_and_sources(tmp_path: Path, fixtures: Path) -> None:
    root = _folder(
        tmp_path,
        fixtures,
        [("real/a.jpg", "REAL", "a"), ("fake/b.jpg", "FAKE", "a"), ("fake/c.jpg", "fake", "c")],
    )
    records = read_face_folder(root)
    assert [(r.path.name, r.label, r.group, r.source, r.native_side) for r in records] == [
        ("a.jpg", 0, "a", "real", 150),
        ("b.jpg", 1, "a", "fake", 151),
        ("c.jpg", 1, "c", "fake", 152),
    ]


def test_native_side_is_unknown_without_size_columns(tmp_path: Path, fixtures: Path) -> None:
    _folder(tmp_path, fixtures, [("real/a.jpg", "REAL", "a")])
    (tmp_path / "metadata.csv").write_text("file,label,group\nreal/a.jpg,REAL,a\n")
    assert read_face_folder(tmp_path)[0].native_side is None


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("file,label,group\nreal/a.jpg,MAYBE,a\n", ValueError, "REAL or FAKE"),
        ("file,label,group\nreal/missing.jpg,REAL,a\n", FileNotFoundError, "does not exist"),
        ("file,label\nreal/a.jpg,REAL\n", ValueError, "lacks the columns"),
    ],
)
def test_bad_metadata_is_a_clear_error(
    tmp_path: Path, fixtures: Path, text: str, error: type[Exception], message: str
) -> None:
    _folder(tmp_path, fixtures, [("real/a.jpg", "REAL", "a")])
    (tmp_path / "metadata.csv").write_text(text)
    with pytest.raises(error, match=message):
        read_face_folder(tmp_path)


def _records(groups: int, per_group: int = 3) -> list[FaceRecord]:
    return [
        FaceRecord(Path(f"{g}-{i}.jpg"), int(i > 0), f"video{g}", "x")
        for g in range(groups)
        for i in range(per_group)
    ]


def test_split_keeps_groups_whole_and_is_reproducible() -> None:
    records = _records(2000)
    train, validation = split_by_group(records, 0.2, seed=7)
    train_groups = {r.group for r in train}
    validation_groups = {r.group for r in validation}
    assert not train_groups & validation_groups
    assert len(train) + len(validation) == len(records)
    assert len(validation_groups) / 2000 == pytest.approx(0.2, abs=0.03)
    assert split_by_group(records, 0.2, seed=7) == (train, validation)
    assert split_by_group(records, 0.2, seed=8)[1] != validation


def test_groups_can_be_left_out() -> None:
    records = _records(5)
    kept = without_groups(records, ["video1", "video3"])
    assert {r.group for r in kept} == {"video0", "video2", "video4"}
