"""Settings for a test: the job database and media under its own folder, sections updated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepfake_stream.config import Settings


def isolated(settings: Settings, folder: Path, **sections: dict[str, Any]) -> Settings:
    """`settings` with SQLite and media under `folder`, and each named section updated."""
    update: dict[str, Any] = {
        "database": settings.database.model_copy(update={"url": f"sqlite:///{folder}/jobs.db"}),
        "storage": settings.storage.model_copy(update={"media_dir": folder / "media"}),
    }
    for name, values in sections.items():
        update[name] = getattr(settings, name).model_copy(update=values)
    return settings.model_copy(update=update)
