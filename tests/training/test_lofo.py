from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from deepfake_stream.cli import main
from deepfake_stream.detection.weights import read_manifest
from deepfake_stream.training.lofo import (
    format_table,
    leave_one_family_out,
    plan_runs,
    run_settings,
)
from deepfake_stream.training.recipe import TrainSettings
from support.training import tiny_train_settings

SHARES = {"real": 0.5, "fake": 0.3, "sbi": 0.2}


def test_each_family_is_left_out_of_training_and_scored_on_validation(
    face_folder: Path, tmp_path: Path
) -> None:
    settings = tiny_train_settings(face_folder, tmp_path, SHARES, samples_per_epoch=8)
    rows = leave_one_family_out(plan_runs(settings), command="test")
    assert [row.family for row in rows] == ["fake", "sbi"]
    for row in rows:
        manifest = read_manifest(Path(row.manifest))
        assert manifest.name == f"tiny-without-{row.family}"
        # Not drawn in training, yet scored on validation, beside the family it trained on.
        assert row.family not in manifest.draw_shares
        assert f"Family {row.family} left out of training" in manifest.training_data
        assert set(manifest.family_metrics) == {"fake", "sbi"}
        assert row.held_out_auc == manifest.family_metrics[row.family]["auc"]
        assert row.held_out_fakes > 0
        assert row.trained_worst_family == ({"fake", "sbi"} - {row.family}).pop()
    table = json.loads((tmp_path / "weights" / "lofo" / "lofo.json").read_text())
    assert [entry["family"] for entry in table] == ["fake", "sbi"]
    lines = format_table(rows)
    assert len(lines) == 2 + len(rows) + 1 and lines[-1].startswith("worst family left out:")


def test_a_family_without_a_share_or_the_last_fake_family_cannot_be_left_out(
    face_folder: Path, tmp_path: Path
) -> None:
    settings = tiny_train_settings(face_folder, tmp_path, SHARES, samples_per_epoch=8)
    with pytest.raises(ValueError, match="no share"):
        plan_runs(settings, ["swap"])
    only_one = settings.model_copy(update={"draw_shares": {"real": 0.5, "fake": 0.5}})
    with pytest.raises(ValidationError, match="at least one fake family"):
        run_settings(only_one, "fake")
    with pytest.raises(ValidationError, match="must be a fake family"):
        TrainSettings(data=face_folder, draw_shares=SHARES, leave_out="real")


def test_the_command_refuses_an_unknown_family(
    face_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(
        json.dumps({"data": str(face_folder), "output": str(tmp_path), "draw_shares": SHARES})
    )
    assert main(["lofo", "--config", str(config), "--families", "mouth"]) == 2
    assert "no share" in capsys.readouterr().err
