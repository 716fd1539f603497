"""Settings for a test: the job database and media under its own folder, sections updated; an
analyzer with a time limit of its own."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from deepfake_stream.config import Settings
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.schema import AnalysisResult


def isolated(settings: Settings, folder: Path, **sections: dict[str, Any]) -> Settings:
    """`settings` with SQLite and media under `folder`, and each named section updated."""
    update: dict[str, Any] = {
        "database": settings.database.model_copy(update={"url": f"sqlite:///{folder}/jobs.db"}),
        "storage": settings.storage.model_copy(update={"media_dir": folder / "media"}),
    }
    for name, values in sections.items():
        update[name] = getattr(settings, name).model_copy(update=values)
    return settings.model_copy(update=update)


def with_time_limit(analyzer: Analyzer, seconds: float) -> Analyzer:
    """`analyzer` (the same loaded models) with limits.max_analysis_s set to `seconds`."""
    limited = copy.copy(analyzer)
    limits = analyzer.settings.limits.model_copy(update={"max_analysis_s": seconds})
    limited.settings = analyzer.settings.model_copy(update={"limits": limits})
    return limited


def analyses(settings: Settings, *files: Path) -> list[AnalysisResult]:
    """Each file's result from a service freshly built from settings."""
    analyzer = Analyzer(settings)
    try:
        return [analyzer.analyze(file) for file in files]
    finally:
        analyzer.close()
