from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import ModelSettings
from deepfake_stream.detection.engine import build_engine, check_devices
from deepfake_stream.detection.model import DeepfakeDetector
from deepfake_stream.detection.registry import create_detector
from deepfake_stream.errors import ConfigError, DeviceUnavailableError
from deepfake_stream.pipeline import Analyzer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detector() -> DeepfakeDetector:
    return create_detector("srm_efficientnet_lite0")


@pytest.fixture(scope="module")
def crops(analyzer: Analyzer, fixtures: Path) -> np.ndarray:
    """Real face crops from the real cropper."""
    from deepfake_stream.media import load_media

    media = load_media(
        fixtures / "two_people_2s.mp4", analyzer.settings.limits, analyzer.settings.sampling
    )
    found = analyzer.faces.detect([f.picture for f in media.frames[:6]], short_side=360)
    return np.stack([face.crop for faces in found for face in faces])


def test_two_cpu_replicas_share_the_batches_and_agree_with_one(
    detector: DeepfakeDetector, crops: np.ndarray
) -> None:
    one = build_engine(detector, ModelSettings(engine="torch", batch_size=4), "x")
    two = build_engine(
        detector, ModelSettings(engine="torch", device=["cpu", "cpu"], batch_size=4), "x"
    )
    assert len(crops) == 12
    np.testing.assert_allclose(two.logits(crops), one.logits(crops), atol=1e-5)
    assert two.chunks_per_replica == [2, 1]  # 3 chunks of 4: round robin
    assert two.devices == ["cpu", "cpu"]
    one.close()
    two.close()


def test_onnx_engine_matches_torch_on_real_crops(
    detector: DeepfakeDetector, crops: np.ndarray, tmp_path: Path
) -> None:
    torch_engine = build_engine(detector, ModelSettings(engine="torch"), "abc")
    onnx_engine = build_engine(
        detector, ModelSettings(engine="onnx", onnx_cache_dir=tmp_path), "abcdef0123456789"
    )
    assert (tmp_path / "srm_efficientnet_lite0-abcdef0123456789-v2.onnx").is_file()
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    torch_logits, torch_embeddings = torch_engine.infer(crops)
    onnx_logits, onnx_embeddings = onnx_engine.infer(crops)
    assert np.abs(sigmoid(torch_logits) - sigmoid(onnx_logits)).max() < 1e-3
    # The embeddings the novelty check reads come out of both engines alike.
    assert torch_embeddings.shape == onnx_embeddings.shape == (len(crops), 256)
    assert np.abs(torch_embeddings - onnx_embeddings).max() < 1e-2


def test_empty_batch() -> None:
    engine = build_engine(
        create_detector("srm_efficientnet_lite0"), ModelSettings(engine="torch"), "x"
    )
    assert engine.logits(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0,)


def test_wrong_crop_size_is_refused(detector: DeepfakeDetector) -> None:
    engine = build_engine(detector, ModelSettings(engine="torch"), "x")
    with pytest.raises(ValueError, match="crops must be"):
        engine.logits(np.zeros((1, 100, 100, 3), np.uint8))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU error path")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", ["cpu", "cuda:0"]])
def test_missing_cuda_device_fails_clearly(device: str | list[str]) -> None:
    with pytest.raises(DeviceUnavailableError, match="CUDA"):
        check_devices(ModelSettings(engine="torch", device=device))


def test_precision_needs_cuda() -> None:
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        check_devices(ModelSettings(engine="torch", precision="fp16"))
    with pytest.raises(ConfigError, match="onnx engine runs fp32"):
        check_devices(ModelSettings(engine="onnx", precision="bf16"))


def test_exported_shipped_weights_give_the_same_probabilities(
    crops: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deepfake-stream export-onnx` on the default config (the shipped weights) against
    eager PyTorch: calibrated probabilities on real crops within 1e-3."""
    import onnxruntime
    import torch

    from deepfake_stream.cli import main
    from deepfake_stream.config import load_settings
    from deepfake_stream.detection.weights import load_trained_detector

    config = REPO / "configs" / "default.yaml"
    manifest_path = load_settings(config).model.weights
    assert manifest_path is not None, "the default config ships trained weights"
    trained, manifest = load_trained_detector(REPO / manifest_path)
    output = tmp_path / "shipped.onnx"
    assert main(["export-onnx", "--config", str(config), str(output)]) == 0
    assert manifest.sha256 in capsys.readouterr().out
    mean = np.array(manifest.crop.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(manifest.crop.std, dtype=np.float32).reshape(1, 3, 1, 1)
    batch = (crops.transpose(0, 3, 1, 2).astype(np.float32) / 255 - mean) / std
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"crops": batch})
    with torch.inference_mode():
        torch_logits = trained(torch.from_numpy(batch)).numpy()
    calibrated = lambda x: 1 / (1 + np.exp(-x / manifest.temperature))  # noqa: E731
    diff = np.abs(calibrated(onnx_logits) - calibrated(torch_logits))
    assert diff.max() <= 1e-3
    # Real crops, a trained model: the scores are spread, not one constant.
    assert np.ptp(calibrated(torch_logits)) > 0.01
