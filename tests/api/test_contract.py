"""The API against its own OpenAPI document, by the Schemathesis CLI over real HTTP: every
documented status, header and body; negative and positive data; auth; and the stateful links
(a deleted job stays gone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepfake_stream.api.auth import Scope, create_key
from deepfake_stream.config import Settings
from deepfake_stream.jobs.store import JobStore
from deepfake_stream.pipeline import Analyzer
from support.live import live_server
from support.settings import isolated

SCHEMATHESIS = Path(sys.executable).parent / "st"
TESTS = Path(__file__).resolve().parents[1]
EXAMPLES_PER_OPERATION = 25
TIMEOUT_S = 900


@pytest.mark.slow
def test_api_conforms_to_its_openapi_document(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, database_url: str
) -> None:
    secured = isolated(
        settings,
        tmp_path,
        auth={"required": True},
        # Any syntactically valid callback URL is accepted here; the SSRF guard has tests.
        webhooks={"allow_private": True},
        database={"url": database_url},  # SQLite and PostgreSQL: each refuses other strings
    )
    store = JobStore(secured.database.url)
    _, key = create_key(store, "contract", frozenset(Scope), rate_per_minute=1_000_000)
    store.close()
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "support.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    with live_server(secured, analyzer) as client:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{client.base_url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--workers",
                "1",
                "--seed",
                "20261125",
                "--header",
                f"Authorization: Bearer {key}",
                "--no-color",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
