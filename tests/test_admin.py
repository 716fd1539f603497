"""The administration commands: keys and the webhook signing secret, on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.api.auth import Scope
from deepfake_stream.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main
from deepfake_stream.database import Database


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/service.db"
    monkeypatch.setenv("DFS_DATABASE__URL", url)
    return url


def test_keys_are_created_listed_and_revoked(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["keys", "create", "--name", "crm", "--scopes", "jobs:read", "--rate-per-minute", "5"])
        == EXIT_OK
    )
    key = capsys.readouterr().out.splitlines()[0]
    assert key.startswith("dfs_")
    key_id = key.split("_")[1]

    store = Database(database)
    (row,) = store.list_keys()
    assert row.id == key_id and row.scopes == [Scope.JOBS_READ] and row.rate_per_minute == 5
    assert key.split("_", 2)[2] not in row.secret_sha256  # only the hash is kept
    store.close()

    assert main(["keys", "list"]) == EXIT_OK
    listing = capsys.readouterr().out
    assert key_id in listing and "crm" in listing and key.split("_", 2)[2] not in listing

    assert main(["keys", "revoke", key_id]) == EXIT_OK
    assert main(["keys", "revoke", key_id]) == EXIT_INPUT  # already revoked
    store = Database(database)
    assert store.list_keys()[0].revoked_at is not None
    store.close()


def test_unknown_scopes_are_refused(database: str) -> None:
    assert main(["keys", "create", "--name", "x", "--scopes", "admin"]) == EXIT_USAGE


def test_the_webhook_secret_is_stable(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhooks", "secret"]) == EXIT_OK
    first = capsys.readouterr().out.strip()
    assert main(["webhooks", "secret"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == first and first.startswith("whsec_")
