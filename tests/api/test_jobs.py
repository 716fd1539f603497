"""The jobs API over real HTTP, with the real model, database and embedded workers."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepfake_stream.api.auth import Scope, create_key
from deepfake_stream.config import Settings
from deepfake_stream.jobs.store import JobStore
from deepfake_stream.network import verify
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.schema import AnalysisResult
from support.api_client import assert_no_server_path
from support.jobs import queued_job
from support.live import live_server
from support.processes import free_port, listening
from support.receiver import ReceiverServer
from support.settings import isolated

JOB_TIMEOUT_S = 120.0


configured = isolated


@pytest.fixture
def client(settings: Settings, analyzer: Analyzer, tmp_path: Path) -> Iterator[httpx.Client]:
    with live_server(configured(settings, tmp_path), analyzer) as live:
        yield live


def upload(
    client: httpx.Client, path: Path, headers: dict[str, str] | None = None, **fields: str
) -> httpx.Response:
    return client.post(
        "/v1/jobs",
        files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
        data=fields,
        headers=headers,
    )


def wait_until_ended(
    client: httpx.Client, job_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_an_upload_becomes_a_job_with_the_analyze_result(
    client: httpx.Client, fixtures: Path, tmp_path: Path
) -> None:
    started = time.perf_counter()
    response = upload(client, fixtures / "fake_dfdc_2s.mp4", segments="2")
    answered_s = time.perf_counter() - started
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["options"] == {"segments": 2}
    assert answered_s < 5  # it does not wait for the analysis

    ended = wait_until_ended(client, job["id"])
    assert ended["status"] == "succeeded", ended
    assert ended["progress"] == 1.0 and ended["error"] is None
    result = AnalysisResult.model_validate(ended["result"])
    assert result.verdict == "fake" and result.file_name == "fake_dfdc_2s.mp4"
    assert result.settings.segments == 2
    assert list((tmp_path / "media").iterdir()) == []  # the media went when the analysis ended

    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204  # purge
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_an_audio_upload_becomes_a_job_judged_on_its_voice(
    client: httpx.Client, fixtures: Path
) -> None:
    response = upload(client, fixtures / "audio" / "speech_fsdd.m4a")
    assert response.status_code == 202, response.text
    ended = wait_until_ended(client, response.json()["id"])
    assert ended["status"] == "succeeded" and ended["progress"] == 1.0, ended
    result = AnalysisResult.model_validate(ended["result"])
    assert result.media.type == "audio" and result.audio is not None
    assert result.audio.codec == "aac" and result.audio.windows
    assert result.verdict.value == result.audio.verdict


def test_bad_media_ends_failed_with_a_json_error(client: httpx.Client, fixtures: Path) -> None:
    response = upload(client, fixtures / "corrupt.jpg")
    assert response.status_code == 202
    ended = wait_until_ended(client, response.json()["id"])
    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "corrupt_media" and ended["result"] is None


def test_a_failed_jobs_error_names_no_server_path(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    """A job's media waits as storage.media_dir/<job id>: FFmpeg's error used to end with it."""
    configured_here = configured(settings, tmp_path)
    with live_server(configured_here, analyzer) as client:
        response = upload(client, fixtures / "truncated.mp4")
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        ended = wait_until_ended(client, job_id)
        listed = client.get("/v1/jobs", params={"status": "failed"}).text
    assert ended["status"] == "failed" and ended["error"]["code"] == "corrupt_media"
    for text in (str(ended), listed):
        assert_no_server_path(text, configured_here.storage.media_dir, tmp_path)
        assert f"/{job_id}" not in text  # the media file's name


def test_idempotency_key_returns_the_first_job(client: httpx.Client, fixtures: Path) -> None:
    headers = {"Idempotency-Key": "upload-42"}
    first = upload(client, fixtures / "photo.jpg", headers=headers)
    again = upload(client, fixtures / "photo.jpg", headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/v1/jobs").json()["jobs"]) == 1


def test_listing_pages_and_filters(client: httpx.Client, fixtures: Path) -> None:
    ids = [upload(client, fixtures / "photo.jpg").json()["id"] for _ in range(3)]
    for job_id in ids:
        wait_until_ended(client, job_id)
    first = client.get("/v1/jobs", params={"limit": 2}).json()
    assert [job["id"] for job in first["jobs"]] == ids[::-1][:2]
    rest = client.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [job["id"] for job in rest["jobs"]] == [ids[0]] and rest["next_cursor"] is None
    assert len(client.get("/v1/jobs", params={"status": "succeeded"}).json()["jobs"]) == 3
    assert client.get("/v1/jobs", params={"status": "queued"}).json()["jobs"] == []
    bad = client.get("/v1/jobs", params={"status": "nonsense"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_parameters"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"segments": "0"}, "segments"),
        ({"segments": "many"}, "segments"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"callback_url": "http://127.0.0.1:9/hook"}, "non-public"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_fields_are_refused_and_leave_no_file(
    client: httpx.Client, fixtures: Path, tmp_path: Path, fields: dict[str, str], problem: str
) -> None:
    response = upload(client, fixtures / "photo.jpg", **fields)
    assert response.status_code == 422, response.text
    assert problem in response.json()["error"]["message"]
    assert list((tmp_path / "media").iterdir()) == []
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_json_jobs_need_a_public_url(client: httpx.Client) -> None:
    private = client.post("/v1/jobs", json={"url": "http://127.0.0.1:9/clip.mp4"})
    assert private.status_code == 422 and "non-public" in private.json()["error"]["message"]
    missing = client.post("/v1/jobs", json={"callback_url": "https://example.org/hook"})
    assert missing.status_code == 422 and "url" in missing.json()["error"]["message"]


def test_a_json_job_fetches_its_media_from_the_url(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(fixtures))
    media_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=media_server.serve_forever, daemon=True).start()
    port = media_server.server_address[1]
    allowed = configured(settings, tmp_path, webhooks={"allow_private": True})
    try:
        with live_server(allowed, analyzer) as client:
            response = client.post("/v1/jobs", json={"url": f"http://127.0.0.1:{port}/photo.jpg"})
            assert response.status_code == 202, response.text
            ended = wait_until_ended(client, response.json()["id"])
            assert ended["status"] == "succeeded", ended
            assert ended["result"]["media"]["type"] == "image"
            gone = client.post("/v1/jobs", json={"url": f"http://127.0.0.1:{port}/nothing.mp4"})
            failed = wait_until_ended(client, gone.json()["id"])
            assert failed["status"] == "failed" and "404" in failed["error"]["message"]
    finally:
        media_server.shutdown()
        media_server.server_close()


def test_the_callback_gets_the_signed_job(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    receiver = ReceiverServer()
    allowed = configured(settings, tmp_path, webhooks={"allow_private": True})
    try:
        with live_server(allowed, analyzer) as client:
            response = upload(client, fixtures / "photo.jpg", callback_url=receiver.receiver.url)
            assert response.status_code == 202, response.text
            assert receiver.receiver.arrived.wait(JOB_TIMEOUT_S)
            (delivery,) = receiver.receiver.deliveries
            secret = JobStore(allowed.database.url).secret("webhook_signing_secret", str)
            payload = verify(secret, delivery.body, delivery.headers)
            assert payload["type"] == "job.succeeded"
            assert payload["data"]["id"] == response.json()["id"]  # type: ignore[index]
    finally:
        receiver.close()


def test_cancelling_and_deleting_jobs(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    receiver = ReceiverServer()
    allowed = configured(settings, tmp_path, webhooks={"allow_private": True})
    media = tmp_path / "media"
    try:
        with live_server(allowed, analyzer) as client:
            # The one worker thread is busy with a long analysis: the next jobs wait in line.
            busy = upload(
                client,
                fixtures / "two_people_2s.mp4",
                segments="16",
                callback_url=receiver.receiver.url,
            ).json()
            waiting = upload(client, fixtures / "photo.jpg").json()
            doomed = upload(client, fixtures / "photo.jpg").json()

            cancelled = client.post(f"/v1/jobs/{waiting['id']}/cancel")
            assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
            assert not (media / waiting["id"]).exists()
            assert client.delete(f"/v1/jobs/{doomed['id']}").status_code == 204
            assert client.get(f"/v1/jobs/{doomed['id']}").status_code == 404

            # Delete the running job: gone at once, and its worker records nothing.
            while client.get(f"/v1/jobs/{busy['id']}").json()["status"] == "queued":
                time.sleep(0.05)
            assert client.delete(f"/v1/jobs/{busy['id']}").status_code == 204
            assert client.get(f"/v1/jobs/{busy['id']}").status_code == 404
            assert client.delete(f"/v1/jobs/{busy['id']}").status_code == 404
            # The worker is free again once it has noticed: a new job runs to the end.
            after = upload(client, fixtures / "photo.jpg").json()
            assert wait_until_ended(client, after["id"])["status"] == "succeeded"
            assert client.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "cancelled"
            assert client.get(f"/v1/jobs/{busy['id']}").status_code == 404
        assert receiver.receiver.deliveries == []  # a deleted job calls no one back
        assert list(media.iterdir()) == []
        store = JobStore(allowed.database.url)
        assert {
            job.id for job in store.list_jobs(owner=None, status=None, limit=10, cursor=None).jobs
        } == {waiting["id"], after["id"]}
        store.close()
    finally:
        receiver.close()


def test_keys_scopes_and_rate_limits(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    secured = configured(settings, tmp_path, auth={"required": True})
    store = JobStore(secured.database.url)
    _, alice = create_key(store, "alice", frozenset(Scope), rate_per_minute=100)
    _, bob = create_key(store, "bob", frozenset(Scope), rate_per_minute=100)
    _, reader = create_key(store, "reader", frozenset({Scope.JOBS_READ}), 2)
    revoked_row, revoked = create_key(store, "gone", frozenset(Scope), 100)
    store.revoke_key(revoked_row.id)
    with live_server(secured, analyzer) as client:
        anonymous = client.get("/v1/jobs")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert client.get("/v1/jobs", headers={"X-API-Key": "dfs_nope_nope"}).status_code == 401
        assert client.get("/v1/jobs", headers={"X-API-Key": revoked}).status_code == 401
        assert client.get("/v1/model", headers={"X-API-Key": revoked}).status_code == 401

        alices = {"Authorization": f"Bearer {alice}"}
        job = upload(client, fixtures / "photo.jpg", headers=alices)
        assert job.status_code == 202
        job_id = job.json()["id"]
        assert client.get(f"/v1/jobs/{job_id}", headers=alices).status_code == 200
        bobs = {"X-API-Key": bob}
        assert client.get(f"/v1/jobs/{job_id}", headers=bobs).status_code == 404
        assert client.delete(f"/v1/jobs/{job_id}", headers=bobs).status_code == 404
        assert client.get("/v1/jobs", headers=bobs).json()["jobs"] == []

        readers = {"X-API-Key": reader}
        forbidden = upload(client, fixtures / "photo.jpg", headers=readers)
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/jobs", headers=readers).status_code == 200
        limited = client.get("/v1/jobs", headers=readers)  # its 3rd request this minute
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"]["code"] == "rate_limited"
        wait_until_ended(client, job_id, alices)
    store.close()


def test_in_the_open_mode_an_anonymous_caller_sees_no_keyed_job(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    open_mode = configured(settings, tmp_path)  # auth.required off: keys optional
    store = JobStore(open_mode.database.url)
    _, alice = create_key(store, "alice", frozenset(Scope), rate_per_minute=100)
    store.close()
    alices = {"X-API-Key": alice}
    with live_server(open_mode, analyzer) as client:
        keyed = upload(client, fixtures / "photo.jpg", headers=alices).json()["id"]
        anonymous = upload(client, fixtures / "photo.jpg").json()["id"]
        assert client.get(f"/v1/jobs/{keyed}").status_code == 404
        assert client.delete(f"/v1/jobs/{keyed}").status_code == 404
        assert client.post(f"/v1/jobs/{keyed}/cancel").status_code == 404
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [anonymous]
        assert [j["id"] for j in client.get("/v1/jobs", headers=alices).json()["jobs"]] == [keyed]
        assert client.get(f"/v1/jobs/{anonymous}", headers=alices).status_code == 404
        wait_until_ended(client, keyed, alices)
        wait_until_ended(client, anonymous)


def test_readyz_fails_while_the_broker_is_unreachable(
    settings: Settings, analyzer: Analyzer, tmp_path: Path
) -> None:
    unreachable = configured(
        settings, tmp_path, queue={"broker": "redis", "redis_url": "redis://127.0.0.1:1/0"}
    )
    with live_server(unreachable, analyzer, wait_ready=False) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "queue broker cannot be reached" in ready.json()["error"]["message"]


def test_a_restarted_server_runs_the_jobs_left_queued(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    """The embedded broker forgets its messages when the process stops; the jobs it had
    queued are in the database and run after the restart."""

    from deepfake_stream.jobs.storage import MediaStore

    restarted = configured(settings, tmp_path)
    store = JobStore(restarted.database.url)
    media = MediaStore(restarted.storage.media_dir)
    job = queued_job(store, media, fixtures / "photo.jpg", job_id="0" * 32)
    store.close()
    with live_server(restarted, analyzer) as client:
        ended = wait_until_ended(client, job.id)
    assert ended["status"] == "succeeded" and ended["attempts"] == 1


@contextmanager
def _private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of this test's own (nothing on disk), so that stopping it disturbs no one."""
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not listening(port):
        assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_broker_outage_refuses_submissions_and_loses_no_job(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    from deepfake_stream.jobs.queue import JobQueue
    from deepfake_stream.jobs.storage import MediaStore
    from deepfake_stream.jobs.worker import JobRunner

    port = free_port()
    scaled = configured(
        settings,
        tmp_path,
        queue={"broker": "redis", "redis_url": f"redis://127.0.0.1:{port}/0", "lease_s": 1.0},
    )
    photo = fixtures / "photo.jpg"
    store = JobStore(scaled.database.url)
    # Redis is down: the front answers 503 with Retry-After and makes no job.
    with live_server(scaled, analyzer, wait_ready=False) as client:
        refused = upload(client, photo, headers={"Idempotency-Key": "order-1"})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "broker_unavailable"
        assert int(refused.headers["retry-after"]) > 0
        assert store.list_jobs(owner=None, status=None, limit=10, cursor=None).jobs == []
        assert list(Path(scaled.storage.media_dir).iterdir()) == []  # its upload is gone too
        with _private_redis(port):  # Redis is back: the same request goes through
            accepted = upload(client, photo, headers={"Idempotency-Key": "order-1"})
            assert accepted.status_code == 202, accepted.text
            # A job whose send failed after the check (the broker went away in between) is
            # in the database, queued and unsent: the outbox.
            media = MediaStore(scaled.storage.media_dir)
            unsent = queued_job(store, media, photo)
            runner = JobRunner(scaled, analyzer, store, media, JobQueue(scaled.queue))
            try:
                runner.start(threads=1)
                time.sleep(1.1)  # older than a lease: recovery sends it
                assert runner.resend_unsent() == 1
                assert runner.resend_unsent() == 0  # sent once, not again
                for job_id in (accepted.json()["id"], unsent.id):
                    assert wait_until_ended(client, job_id)["status"] == "succeeded"
            finally:
                runner.close()
    store.close()


def test_odd_names_ids_and_cursors_get_answers_on_every_database(
    settings: Settings, analyzer: Analyzer, tmp_path: Path, fixtures: Path, database_url: str
) -> None:
    """What PostgreSQL refuses and SQLite takes (a NUL, a string over its column) must never
    reach either as a 500."""
    on_database = configured(settings, tmp_path, webhooks={"allow_private": True})
    on_database = on_database.model_copy(
        update={"database": on_database.database.model_copy(update={"url": database_url})}
    )
    photo = (fixtures / "photo.jpg").read_bytes()
    with live_server(on_database, analyzer) as client:
        long_name = "n" * 300 + ".jpg"
        job = client.post("/v1/jobs", files={"file": (long_name, photo)})
        assert job.status_code == 202, job.text
        assert len(job.json()["file_name"]) <= 255 and job.json()["file_name"].endswith(".jpg")
        long_url = "http://127.0.0.1:9/" + "a" * 420 + ".mp4"
        by_url = client.post("/v1/jobs", json={"url": long_url})
        assert by_url.status_code == 202, by_url.text
        assert len(by_url.json()["file_name"]) <= 255
        for odd in ("abc%00def", "a" * 300, "%00"):
            assert client.get(f"/v1/jobs/{odd}").status_code == 404
            assert client.delete(f"/v1/jobs/{odd}").status_code == 404
        assert client.get("/v1/jobs", params={"cursor": "\x00"}).status_code == 422
        assert client.get("/v1/jobs", params={"cursor": "x" * 300}).status_code == 422
        garbage = "\x03\x00" + "7b25efe00a6b5a9314e8f6ffe00fa28f"  # found by Schemathesis
        assert client.get("/v1/jobs", params={"cursor": garbage}).status_code == 422
        long_key = client.post(
            "/v1/jobs", files={"file": ("p.jpg", photo)}, headers={"Idempotency-Key": "k" * 300}
        )
        assert long_key.status_code == 422
        assert client.get("/v1/jobs", headers={"X-API-Key": "dfs_zz%00_x"}).status_code == 401
        for job_id in (job.json()["id"], by_url.json()["id"]):
            wait_until_ended(client, job_id)
        # A failed analysis leaves no file behind.
        corrupt = client.post(
            "/v1/analyze", files={"file": ("c.jpg", (fixtures / "corrupt.jpg").read_bytes())}
        )
        assert corrupt.status_code == 400
    uploads = on_database.server.upload_dir
    assert uploads is None or list(Path(uploads).iterdir()) == []
    assert [p.name for p in Path(on_database.storage.media_dir).iterdir()] == []
