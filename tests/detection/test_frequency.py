from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import torch

from deepfake_stream.detection.crop import normalize_crops
from deepfake_stream.detection.engine import export_onnx
from deepfake_stream.detection.frequency import DCT_BLOCK, FrequencyDetector, dct_basis
from deepfake_stream.detection.registry import create_detector, get_spec


def test_the_dct_basis_is_orthonormal() -> None:
    basis = dct_basis().reshape(DCT_BLOCK * DCT_BLOCK, -1).double()
    assert torch.allclose(
        basis @ basis.T, torch.eye(DCT_BLOCK * DCT_BLOCK, dtype=torch.float64), atol=1e-6
    )


def test_spectrum_of_a_flat_crop_is_only_its_dc_term() -> None:
    model = create_detector("dct_cnn")
    assert isinstance(model, FrequencyDetector)
    crop = np.full((1, 224, 224, 3), 200, np.uint8)
    spectrum = model.spectrum(torch.from_numpy(normalize_crops(crop, model.crop)))
    assert spectrum.shape == (1, 64, 28, 28)
    assert torch.allclose(spectrum[:, 1:], torch.zeros(1), atol=1e-4)
    # DC of an 8x8 block of brightness 200 (-128 centred) is 8 * 72; stored as sign * log1p.
    assert torch.allclose(spectrum[:, 0], torch.log1p(torch.tensor(8 * 72.0)), atol=1e-3)


def test_a_finer_texture_moves_energy_to_higher_coefficients() -> None:
    model = create_detector("dct_cnn")
    assert isinstance(model, FrequencyDetector)
    x = np.arange(224)
    coarse = np.tile((127 + 100 * np.sin(x / 20.0))[None, :, None], (224, 1, 3))
    fine = np.tile((127 + 100 * np.sin(x * 2.5))[None, :, None], (224, 1, 3))
    crops = np.stack([coarse, fine]).astype(np.uint8)
    spectrum = model.spectrum(torch.from_numpy(normalize_crops(crops, model.crop)))
    energy = spectrum.abs().mean(dim=(2, 3))  # (2, 64): channel u * 8 + v, u horizontal
    horizontal = energy[:, DCT_BLOCK::DCT_BLOCK]  # u = 1..7 with v = 0
    assert horizontal[0].argmax() < horizontal[1].argmax()


def test_the_frequency_branch_exports_to_onnx_with_the_same_logits(
    tmp_path: Path, fixtures: Path
) -> None:
    model = create_detector("dct_cnn")
    assert model.crop == get_spec("dct_cnn").crop
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    batch = normalize_crops(crops, model.crop)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    session = onnxruntime.InferenceSession(
        str(export_onnx(model, tmp_path / "dct.onnx")), providers=["CPUExecutionProvider"]
    )
    logits, embedding = session.run(["logits", "embedding"], {"crops": batch})
    assert np.abs(logits - expected).max() < 1e-3
    assert embedding.shape == (3, 192)
