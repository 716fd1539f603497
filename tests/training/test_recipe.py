from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.training.recipe import load_train_settings


@pytest.mark.parametrize(
    "path",
    sorted(
        path
        for path in (Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml")
        if not path.name.startswith("fusion")
    ),
    ids=lambda p: p.name,
)
def test_every_training_config_loads(path: Path) -> None:
    settings = load_train_settings(path)
    assert not any(source.path.is_absolute() for source in settings.data)
    assert not settings.checkpoint.is_absolute()
    assert set(settings.exclude_groups) >= {"lynaeydofd", "qzimuostzz", "ybqmttnept"}
