"""deepfake_stream.bench on a small folder of real media, with the session analyzer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deepfake_stream.bench import BenchRow, format_table, run_bench
from deepfake_stream.pipeline import Analyzer

MEDIA = ("photo.jpg", "real_hdtf_2s.mp4", "noface.jpg")
CORRUPT = "zz_corrupt.jpg"


@pytest.fixture(scope="module")
def bench_folder(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench-media")
    for name in MEDIA:
        shutil.copy(fixtures / name, folder / name)
    shutil.copy(fixtures / "corrupt.jpg", folder / CORRUPT)
    (folder / "notes.txt").write_text("not media: the bench must skip this file\n")
    return folder


@pytest.fixture(scope="module")
def rows(analyzer: Analyzer, bench_folder: Path) -> dict[str, BenchRow]:
    return {row.file: row for row in run_bench(analyzer, bench_folder, repeat=1)}


def test_one_row_per_media_file(rows: dict[str, BenchRow]) -> None:
    assert sorted(rows) == sorted([*MEDIA, CORRUPT])  # notes.txt skipped


def test_video_row(rows: dict[str, BenchRow]) -> None:
    row = rows["real_hdtf_2s.mp4"]
    assert (row.kind, row.resolution) == ("video", "256x256")
    assert row.frames == 32
    assert row.frames_with_face == row.frames  # a talking head: a face in every frame
    assert row.faces == 32
    assert row.decode_fps > 0 and row.detect_fps > 0 and row.classify_fps > 0
    assert row.seconds > 0
    assert row.peak_rss_mb > 100  # torch, MTCNN and the ONNX session are resident
    # A real talking head, through the shipped model: above the calibrated real threshold
    # (tests/api/routes/test_analyze.py, test_analyze_talking_head_video), so uncertain, never fake.
    assert row.verdict == "uncertain"
    assert row.probability is not None
    assert row.error is None


def test_image_rows(rows: dict[str, BenchRow]) -> None:
    photo, noface = rows["photo.jpg"], rows["noface.jpg"]
    assert (photo.kind, photo.frames, photo.frames_with_face, photo.faces) == ("image", 1, 1, 1)
    assert photo.classify_fps > 0
    assert (noface.kind, noface.frames, noface.frames_with_face, noface.faces) == (
        "image",
        1,
        0,
        0,
    )
    assert noface.classify_fps == 0  # nothing to classify
    assert (noface.verdict, noface.probability) == ("no_face", None)


def test_corrupt_file_becomes_an_error_row(rows: dict[str, BenchRow]) -> None:
    row = rows[CORRUPT]
    assert row.verdict == "error"
    assert row.error is not None and "cannot decode" in row.error


def test_format_table(rows: dict[str, BenchRow]) -> None:
    table = format_table(list(rows.values()))
    lines = table.splitlines()
    assert lines[0].startswith("file") and set(lines[1]) == {"-"}
    for name in rows:
        assert name in table
    [video_line] = [line for line in lines if line.startswith("real_hdtf_2s.mp4")]
    assert "32/32" in video_line.replace(" ", "")
    assert video_line.endswith(rows["real_hdtf_2s.mp4"].verdict)
    [corrupt_line] = [line for line in lines if line.startswith(CORRUPT)]
    assert "error: cannot decode" in corrupt_line
    assert "notes.txt" not in table


def test_corrupt_first_file_does_not_abort_the_bench(
    analyzer: Analyzer, fixtures: Path, tmp_path: Path
) -> None:
    shutil.copy(fixtures / "corrupt.jpg", tmp_path / "a_corrupt.jpg")
    shutil.copy(fixtures / "noface.jpg", tmp_path / "b_noface.jpg")
    results = {row.file: row for row in run_bench(analyzer, tmp_path, repeat=1)}
    assert results["a_corrupt.jpg"].error is not None
    assert results["b_noface.jpg"].verdict == "no_face"
