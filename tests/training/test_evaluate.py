from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from deepfake_stream.cli import main
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.data import read_face_folder, split_by_group, without_groups
from deepfake_stream.training.evaluate import NO_FACE_PROBABILITY, evaluate, label_from_path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def media_folder(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    for folder, name in [
        ("video/real", "real_hdtf_2s.mp4"),
        ("image/real", "noface.jpg"),
        ("video/fake", "fake_dfdc_2s.mp4"),
        ("image/fake", "corrupt.jpg"),
        ("unlabelled", "photo.jpg"),
    ]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures / name, root / folder / name)
    return root


def test_labels_come_from_the_nearest_real_or_fake_folder() -> None:
    assert label_from_path(Path("video/fake/x.mp4")) == 1
    assert label_from_path(Path("real/fake/x.mp4")) == 1
    assert label_from_path(Path("Real/x.jpg")) == 0
    assert label_from_path(Path("other/x.jpg")) is None


def test_media_go_through_the_service_pipeline_and_no_face_counts_as_half(
    analyzer: Analyzer, media_folder: Path, tmp_path: Path
) -> None:
    summary = evaluate(media_folder, analyzer, tmp_path)
    assert summary["kind"] == "media"
    assert summary["n"] == 3  # the unlabelled photo is not scored, the corrupt file errs
    assert summary["no_face"] == 1 and summary["no_face_files"] == ["image/real/noface.jpg"]
    assert list(summary["errors"]) == ["image/fake/corrupt.jpg"]
    files = {row["file"]: row for row in summary["files"]}
    assert files["image/real/noface.jpg"]["probability"] == NO_FACE_PROBABILITY
    direct = analyzer.analyze(media_folder / "video/fake/fake_dfdc_2s.mp4").probability
    assert files["video/fake/fake_dfdc_2s.mp4"]["probability"] == pytest.approx(direct, abs=1e-4)
    assert set(summary["by_source"]) == {"image/real", "video/fake", "video/real"}
    assert summary["threshold"] == analyzer.model.policy.fake_at_or_above
    fake_result = analyzer.analyze(media_folder / "video/fake/fake_dfdc_2s.mp4")
    assert files["video/fake/fake_dfdc_2s.mp4"]["verdict"] == fake_result.verdict.value
    assert sum(sum(counts.values()) for counts in summary["verdicts"].values()) == 3
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["n"] == 3 and saved["confusion"] == summary["confusion"]
    for plot in ("roc.png", "histogram.png"):
        assert (tmp_path / plot).read_bytes().startswith(PNG_SIGNATURE)


def test_crop_folders_go_straight_to_the_classifier(
    analyzer: Analyzer, fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "crops"
    lines = ["file,label,group"]
    for index, name in enumerate(["photo.jpg", "photo.png", "group.jpg", "noface.jpg"]):
        label = ("REAL", "FAKE")[index % 2]
        file = f"{label.lower()}/{index}.jpg"
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        Image.open(fixtures / name).convert("RGB").resize((224, 224)).save(root / file)
        lines.append(f"{file},{label},g{index}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    code = main(["eval", str(root), "--output", str(tmp_path / "out"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kind"] == "crops"
    assert {"n", "auc", "log_loss", "accuracy", "f1", "eer", "threshold", "confusion"} <= set(
        summary
    )
    assert summary["n"] == 4 and summary["no_face"] == 0
    assert set(summary["by_source"]) == {"real", "fake"}
    assert sum(sum(counts.values()) for counts in summary["verdicts"].values()) == 4
    # Only the validation split of a training config, then a random sample of it.
    config = tmp_path / "train.yaml"
    config.write_text(f"data: {root}\nvalidation_fraction: 0.5\nseed: 1\nexclude_groups: [g0]\n")
    records = without_groups(read_face_folder(root), ["g0"])
    validation = split_by_group(records, 0.5, seed=1)[1]
    out = str(tmp_path / "out")
    assert main(["eval", str(root), "--output", out, "--json", "--validation-of", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == len(validation)
    assert main(["eval", str(root), "--output", out, "--json", "--sample", "2"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 2
