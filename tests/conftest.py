"""Shared fixtures: small real media (tests/fixtures, see its README) and one loaded Analyzer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepfake_stream.audio.decode import load_audio
from deepfake_stream.config import LimitSettings, Settings, load_settings
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer
from support.processes import listening

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def speech(fixtures: Path) -> np.ndarray:
    """Real speech (eight spoken digits, tests/fixtures/README.md) at 16 kHz, float32."""
    audio = load_audio(fixtures / "audio" / "speech_fsdd.flac", LimitSettings())
    assert audio is not None
    return audio.samples


# The services this machine (and CI) runs; tests that need one are skipped, with the reason
# shown in the summary, where it is not listening (a newcomer's laptop).
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The default config, with its ONNX cache, job database and media in temp dirs."""
    base = load_settings(REPO / "configs" / "default.yaml")
    cache = tmp_path_factory.mktemp("onnx-cache")
    jobs = tmp_path_factory.mktemp("jobs")
    return base.model_copy(
        update={
            "model": base.model.model_copy(update={"onnx_cache_dir": cache}),
            "database": base.database.model_copy(update={"url": f"sqlite:///{jobs}/jobs.db"}),
            "storage": base.storage.model_copy(update={"media_dir": jobs / "media"}),
        }
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not listening(5432):
        pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    name = f"dfs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each job-store test runs on SQLite (the embedded default) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jobs.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A Redis key prefix of its own for one test, its keys deleted afterwards."""
    if not listening(6379):
        pytest.skip("Redis is not listening on 127.0.0.1:6379")
    import redis

    namespace = f"dfs-test-{uuid.uuid4().hex[:12]}"
    yield namespace
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def analyzer(settings: Settings) -> Iterator[Analyzer]:
    loaded = Analyzer(settings)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory: pytest.TempPathFactory, analyzer: Analyzer) -> Path:
    """Eight real 224x224 face crops from the fixtures, half labelled fake, in 4 groups."""
    root = tmp_path_factory.mktemp("faces")
    crops = []
    for name in ("photo.jpg", "photo_exif_rot6.jpg", "group.jpg"):
        media = load_media(
            FIXTURES / name,
            analyzer.settings.limits,
            analyzer.settings.sampling,
        )
        (faces,) = analyzer.faces.detect([media.frames[0].picture], short_side=720)
        crops.extend(face.crop for face in faces)
    lines = ["file,label,group"]
    for index, crop in enumerate(crops[:8]):
        label = "REAL" if index % 2 == 0 else "FAKE"
        file = f"{label.lower()}/{index}.jpg"
        (root / file).parent.mkdir(exist_ok=True)
        Image.fromarray(crop).save(root / file)
        lines.append(f"{file},{label},g{index // 2}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def served_fixtures() -> Iterator[str]:
    """The fixtures folder over a real local HTTP server (URL sources, fetched media)."""
    import http.server
    import threading
    from functools import partial

    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
