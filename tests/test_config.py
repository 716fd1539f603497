from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.config import AnalysisOptions, SamplingSettings, Settings, load_settings
from deepfake_stream.detection.engine import check_devices
from deepfake_stream.errors import ConfigError, DeviceUnavailableError

CONFIGS = Path(__file__).parent.parent / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    settings = load_settings(path)
    assert isinstance(settings, Settings)
    assert not any(str(value).startswith("/") for value in (settings.model.onnx_cache_dir,))


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
