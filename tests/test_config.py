from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepfake_stream.config import AnalysisOptions, SamplingSettings, Settings, load_settings
from deepfake_stream.detection.engine import check_devices
from deepfake_stream.errors import ConfigError, DeviceUnavailableError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    settings = load_settings(path)
    assert isinstance(settings, Settings)
    # Relative paths in the file are the project home's (this checkout), not the caller's.
    assert settings.model.onnx_cache_dir.is_relative_to(REPO)
    assert settings.model.weights is None or settings.model.weights.is_file()


def test_backends_are_chosen_by_config_files() -> None:
    assert load_settings(CONFIGS / "default.yaml").model.engine == "onnx"
    cpu = load_settings(CONFIGS / "cpu.yaml").model
    assert (cpu.engine, cpu.devices) == ("torch", ["cpu"])
    gpu = load_settings(CONFIGS / "gpu.yaml").model
    assert (gpu.devices, gpu.precision) == (["cuda"], "fp16")
    multi = load_settings(CONFIGS / "multi-gpu.yaml").model
    assert multi.devices == ["cuda:0", "cuda:1"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without GPU")
@pytest.mark.parametrize("name", ["gpu.yaml", "multi-gpu.yaml"])
def test_gpu_configs_fail_at_start_up_without_a_gpu(name: str) -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        check_devices(load_settings(CONFIGS / name).model)


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFS_MODEL__BATCH_SIZE", "3")
    monkeypatch.setenv("DFS_SAMPLING__SEGMENTS", "5")
    monkeypatch.setenv("DFS_MODEL__DEVICE", '["cpu", "cpu"]')
    settings = load_settings(CONFIGS / "cpu.yaml")
    assert settings.model.batch_size == 3
    assert settings.model.engine == "torch"  # from the file
    assert settings.sampling.segments == 5
    assert settings.model.devices == ["cpu", "cpu"]


def test_config_file_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFS_CONFIG", str(CONFIGS / "cpu.yaml"))
    assert load_settings().model.engine == "torch"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model:\n  device: tpu\n", "unknown device"),
        ("model:\n  colour: blue\n", "colour"),
        ("verdict:\n  real_below: 0.8\n  fake_at_or_above: 0.2\n", "must not exceed"),
        ("- just\n- a list\n", "mapping"),
        ("model: [unclosed\n", "not valid YAML"),
        # The crop is the weights' now: an old config says so instead of being half obeyed.
        ("faces:\n  margin: 0.3\n", "crop now comes from the weights manifest"),
        ("faces:\n  crop_jpeg_quality: 75\n", "faces.crop_jpeg_quality"),
    ],
)
def test_invalid_configs_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_analysis_options_override_only_what_they_give() -> None:
    configured = SamplingSettings(segments=8, frames_per_segment=4)
    options = AnalysisOptions(frames_per_segment=2)
    assert options.overrides() == {"frames_per_segment": 2}
    assert options.sampling(configured) == SamplingSettings(segments=8, frames_per_segment=2)
    # A job stores the overrides next to other options (its URL) and reads them back.
    stored = {**AnalysisOptions(segments=3).overrides(), "url": "https://example.com/a.mp4"}
    assert AnalysisOptions.from_stored(stored) == AnalysisOptions(segments=3)
    assert AnalysisOptions().sampling(configured) == configured


def test_relative_paths_resolve_against_the_home_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("DFS_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / "configs").mkdir(parents=True)
    (home / "configs" / "default.yaml").write_text(
        "model: {weights: weights/mine.json}\nfusion: {manifest: weights/fusion.json}\n"
        "database: {url: 'sqlite:///state/jobs.db'}\nserver: {upload_dir: uploads}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DFS_HOME", str(home))
    settings = load_settings()  # the home's configs/default.yaml
    assert settings.model.weights == home / "weights" / "mine.json"
    assert settings.fusion.manifest == home / "weights" / "fusion.json"
    assert settings.model.onnx_cache_dir == home / ".cache" / "onnx"  # a default, at home too
    assert settings.storage.media_dir == home / "data" / "media"
    assert settings.server.upload_dir == home / "uploads"
    assert settings.database.url == f"sqlite:///{home}/state/jobs.db"
    # Absolute paths, other databases and the environment's overrides keep their meaning.
    monkeypatch.setenv("DFS_DATABASE__URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("DFS_MODEL__WEIGHTS", "/srv/w.json")
    settings = load_settings()
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    assert settings.model.weights == Path("/srv/w.json")
    # Without DFS_HOME, the home is this checkout, wherever the command runs.
    monkeypatch.delenv("DFS_HOME")
    monkeypatch.delenv("DFS_MODEL__WEIGHTS")
    assert load_settings().model.weights == REPO / "weights" / "srm-lite0-wild.json"


def _command(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "deepfake-stream"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
    return subprocess.run(
        [str(script), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_works_from_any_directory(
    tmp_path: Path, fixtures: Path, settings: Settings
) -> None:
    cache = {"DFS_MODEL__ONNX_CACHE_DIR": str(settings.model.onnx_cache_dir)}
    done = _command("analyze", "--json", str(fixtures / "photo.jpg"), cwd=tmp_path, env=cache)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"]["weights_name"] == "srm-lite0-wild" and result["verdict"] != "error"
    assert list(tmp_path.iterdir()) == []  # nothing written where the command ran


def test_migrations_are_quiet_unless_the_schema_changes(tmp_path: Path) -> None:
    database = {"DFS_DATABASE__URL": f"sqlite:///{tmp_path}/jobs.db"}
    first = _command("keys", "list", cwd=tmp_path, env=database)
    assert first.returncode == 0
    (line,) = first.stderr.splitlines()  # one line: the schema was made
    assert "database schema migrated from nothing to" in line
    again = _command("keys", "list", cwd=tmp_path, env=database)
    assert again.returncode == 0 and again.stderr == ""


def test_thumbnails_travel_with_a_jobs_options_but_leave_sampling_alone() -> None:
    configured = SamplingSettings(segments=8, frames_per_segment=4)
    options = AnalysisOptions(segments=3, thumbnails=True)
    assert options.overrides() == {"segments": 3, "thumbnails": True}
    assert options.sampling(configured) == SamplingSettings(segments=3, frames_per_segment=4)
    # The scale-out path of /v1/analyze stores its options in a job; the worker reads them back.
    assert AnalysisOptions.from_stored(options.overrides()) == options
    # Not asked for: nothing stored, so a job's options read as before.
    assert "thumbnails" not in AnalysisOptions(segments=3).overrides()
    assert AnalysisOptions.from_stored({"thumbnails": "yes"}).thumbnails is False
