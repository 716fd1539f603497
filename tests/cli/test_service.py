"""The deepfake-stream command, run in-process through cli.main (each analyze/info loads a
model, so the calls are few and each checks several things)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from deepfake_stream.cli import main
from deepfake_stream.config import Settings
from deepfake_stream.detection.registry import create_detector
from deepfake_stream.detection.weights import WeightsManifest, save_detector_weights
from deepfake_stream.schema import AnalysisResult

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = str(REPO / "configs" / "default.yaml")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    """No DFS_* overrides from outside; ONNX graphs cached in the session's temp dir; the
    root log level (which the CLI lowers) restored afterwards."""
    for name in [name for name in os.environ if name.startswith("DFS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DFS_MODEL__ONNX_CACHE_DIR", str(settings.model.onnx_cache_dir))
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_analyze_json_prints_one_result_per_file(
    fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video, photo = fixtures / "real_hdtf_2s.mp4", fixtures / "photo.jpg"
    code = main(
        ["analyze", "--config", DEFAULT_CONFIG, "--json", "--fail-on-fake", str(video), str(photo)]
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2
    video_result, photo_result = (AnalysisResult.model_validate_json(line) for line in lines)
    assert video_result.file_name == "real_hdtf_2s.mp4"
    assert video_result.media.type == "video"
    assert video_result.media.frames_sampled == 32
    assert len(video_result.people) == 1
    assert photo_result.file_name == "photo.jpg"
    assert photo_result.media.type == "image"
    assert len(photo_result.people) == 1
    for result in (video_result, photo_result):
        assert result.model.untrained is False
    # Neither is called fake; the talking head is judged by the thresholds its result reports.
    probability = video_result.probability
    assert probability is not None and probability < video_result.settings.fake_at_or_above
    real = probability < video_result.settings.real_below
    assert video_result.verdict == ("real" if real else "uncertain")
    assert photo_result.verdict != "fake"
    assert code == 0  # real media: nothing judged fake, so --fail-on-fake does not fire


def test_the_shipped_model_flags_an_unseen_dfdc_fake(
    fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = str(fixtures / "fake_dfdc_2s.mp4")
    code = main(["analyze", "--config", DEFAULT_CONFIG, "--json", "--fail-on-fake", fake])
    result = AnalysisResult.model_validate_json(capsys.readouterr().out)
    assert result.verdict == "fake"
    assert result.probability is not None
    assert result.probability >= result.settings.fake_at_or_above
    assert code == 5


def test_analyze_table(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "analyze",
            "--config",
            DEFAULT_CONFIG,
            str(fixtures / "photo.jpg"),
            str(fixtures / "noface.jpg"),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["file", "type", "verdict", "p(fake)", "faces", "people", "time"]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert rows["photo.jpg"][1] == "image" and rows["photo.jpg"][2] in ("real", "uncertain")
    assert rows["photo.jpg"][4:6] == ["1", "1"]  # one face, one person
    assert rows["noface.jpg"][1:6] == ["image", "no_face", "-", "0", "0"]
    assert not any("untrained" in line for line in lines)


def test_analyze_table_says_why_a_verdict_is_uncertain(
    fixtures: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With srm-lite0-dfdc and every frame searched whole, the talking head is under the
    validation real threshold but not the calibrated one: the table's reader gets the result's
    warning, not a bare `uncertain`."""
    config = tmp_path / "dfdc.yaml"
    weights = Path(DEFAULT_CONFIG).resolve().parents[1] / "weights" / "srm-lite0-dfdc.json"
    text = Path(DEFAULT_CONFIG).read_text().replace("weights/srm-lite0-wild.json", str(weights))
    config.write_text(text.replace("keyframe_interval: 4", "keyframe_interval: 1"))
    code = main(["analyze", "--config", str(config), str(fixtures / "real_hdtf_2s.mp4")])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["real_hdtf_2s.mp4", "video", "uncertain"]
    [note] = [line for line in lines if line.startswith("note: ")]
    assert note.startswith("note: real_hdtf_2s.mp4: ") and "not trained on" in note


def test_unreadable_input_exits_4_and_the_rest_is_reported(
    fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.mp4"
    files = [fixtures / "photo.jpg", fixtures / "corrupt.jpg", missing, fixtures / "noface.jpg"]
    code = main(["analyze", "--config", DEFAULT_CONFIG, "--json", *map(str, files)])
    assert code == 4
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    photo, corrupt, absent, noface = (json.loads(line) for line in lines)
    assert AnalysisResult.model_validate(photo).verdict in ("real", "uncertain")
    assert corrupt["file_name"] == "corrupt.jpg"
    assert corrupt["error"]["code"] == "corrupt_media"
    assert absent["file_name"] == "missing.mp4"
    assert "no such file" in absent["error"]["message"]
    assert AnalysisResult.model_validate(noface).verdict == "no_face"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"model": {"colour": "blue"}}, "colour"),
        ({"modle": {"device": "cpu"}}, "modle"),
        ({"model": {"device": "tpu"}}, "tpu"),
        ({"model": {"device": ["cpu", "cuda:x"]}}, "cuda:x"),
        ({"sampling": {"segments": 0}}, "segments"),
    ],
)
def test_bad_config_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict[str, object], expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["info", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert "config_error" in err
    assert expected in err


def test_missing_config_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--config", str(tmp_path / "nope.yaml")]) == 3
    assert "config file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["analyze"],  # no files
        ["analyze", "--segments", "two", "x.jpg"],
        ["analyze", "--progress", "sometimes", "x.jpg"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: deepfake-stream" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--segments", "--frames-per-segment"])
def test_non_positive_sampling_option_exits_2(
    fixtures: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["analyze", "--config", DEFAULT_CONFIG, option, "0", str(fixtures / "photo.jpg")])
    assert code == 2
    assert f"{option} must be at least 1" in capsys.readouterr().err


# --- real trained-format weights that call every face fake -----------------------------------


@pytest.fixture(scope="module")
def always_fake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(config, manifest, sha256) for weights whose head ignores its input: logit 20."""
    folder = tmp_path_factory.mktemp("always-fake")
    detector = create_detector("srm_efficientnet_lite0")
    with torch.no_grad():
        detector.head.fc.weight.zero_()
        detector.head.fc.bias.fill_(20.0)
    sha = save_detector_weights(detector, folder / "always_fake.safetensors")
    manifest = WeightsManifest(
        name="always-fake-test",
        architecture="srm_efficientnet_lite0",
        file="always_fake.safetensors",
        sha256=sha,
        crop=detector.crop,
        temperature=1.0,
        thresholds={"real_below": 0.3, "fake_at_or_above": 0.7},  # type: ignore[arg-type]
        training_data="test artifact",
        training_command="n/a",
        trained_on="n/a",
        metrics={},
    )
    manifest_path = folder / "always_fake.json"
    manifest_path.write_text(manifest.model_dump_json(indent=2))
    config = folder / "always_fake.yaml"
    config.write_text(
        yaml.safe_dump(
            {"model": {"weights": str(manifest_path), "onnx_cache_dir": str(folder / "onnx")}}
        )
    )
    return config, manifest_path, sha


def test_fail_on_fake_exits_5(
    always_fake: tuple[Path, Path, str], fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _, sha = always_fake
    photo = str(fixtures / "photo.jpg")
    code = main(["analyze", "--config", str(config), "--json", "--fail-on-fake", photo])
    [line] = capsys.readouterr().out.splitlines()
    result = AnalysisResult.model_validate_json(line)
    assert result.verdict == "fake"
    assert result.probability is not None and result.probability > 0.99
    assert [person.verdict for person in result.people] == ["fake"]
    assert result.model.untrained is False
    assert result.model.weights_name == "always-fake-test"
    assert result.model.weights_sha256 == sha
    assert not any("untrained" in warning for warning in result.warnings)
    assert code == 5


def test_info_reports_the_trained_weights(
    always_fake: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _, sha = always_fake
    assert main(["info", "--config", str(config), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["untrained"] is False
    assert info["weights"] == "always-fake-test"
    assert info["weights_sha256"] == sha
    assert info["thresholds"] == {
        "real_below": 0.3,
        "photo_real_below": 0.3,  # no photo calibration: the video threshold
        "fake_at_or_above": 0.7,
        "photo_fake_at_or_above": 0.7,  # no photo fake calibration: the video threshold
    }


def test_weights_that_fail_their_check_exit_3(
    always_fake: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, manifest_path, sha = always_fake
    tampered = json.loads(manifest_path.read_text())
    tampered["sha256"] = "0" * 64
    tampered["file"] = str(manifest_path.parent / tampered["file"])
    tampered_path = tmp_path / "tampered.json"
    tampered_path.write_text(json.dumps(tampered))
    tampered_config = tmp_path / "tampered.yaml"
    tampered_config.write_text(yaml.safe_dump({"model": {"weights": str(tampered_path)}}))
    assert main(["info", "--config", str(tampered_config)]) == 3
    err = capsys.readouterr().err
    assert "weights_error" in err
    assert sha in err  # the actual hash of the file, next to the expected one


def test_export_onnx_writes_the_configured_weights(
    always_fake: tuple[Path, Path, str],
    tmp_path: Path,
    fixtures: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numpy as np
    import onnxruntime
    from PIL import Image

    config, _, sha = always_fake
    output = tmp_path / "model.onnx"
    assert main(["export-onnx", "--config", str(config), str(output)]) == 0
    assert sha in capsys.readouterr().out
    crop = np.asarray(Image.open(fixtures / "photo.jpg").convert("RGB").resize((224, 224)))
    batch = ((crop.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[None]
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    logits, embedding = session.run(["logits", "embedding"], {"crops": batch})
    assert logits.shape == (1,) and logits[0] == pytest.approx(20.0, abs=1e-3)
    assert embedding.shape == (1, 256)
