"""`deepfake-stream worker`: its refusal without the Redis broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.cli import EXIT_CONFIG, main
from deepfake_stream.config import load_settings


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/jobs.db"
    monkeypatch.setenv("DFS_DATABASE__URL", url)
    return url


def test_worker_needs_the_redis_broker(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_settings().queue.broker == "embedded"
    assert main(["worker"]) == EXIT_CONFIG
    assert "queue.broker: redis" in capsys.readouterr().err
