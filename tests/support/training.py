"""The smallest training config that runs end to end on the face_folder fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepfake_stream.training.recipe import TrainSettings


def tiny_train_settings(
    face_folder: Path, tmp_path: Path, draw_shares: dict[str, float], **overrides: Any
) -> TrainSettings:
    """One epoch of batches of 4, half the groups on validation, everything under tmp_path."""
    return TrainSettings(
        **{
            "data": face_folder,
            "output": tmp_path / "weights",
            "name": "tiny",
            "epochs": 1,
            "batch_size": 4,
            "validation_fraction": 0.5,
            "seed": 3,
            "draw_shares": draw_shares,
            "landmarks_cache": tmp_path / "landmarks.npz",
            "workers": 0,
            "checkpoint": tmp_path / "checkpoint.pt",
            **overrides,
        }
    )
