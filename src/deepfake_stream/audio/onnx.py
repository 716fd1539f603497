"""The voice model as ONNX, for runtimes without PyTorch: the same windows in, the same logits
out (tests/audio/test_onnx.py checks the parity on real speech). The service itself runs the
model in PyTorch: at a few milliseconds a window there is nothing to gain."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .model import VoiceModel

ONNX_OPSET = 17
INPUT_NAME = "features"  # (batch, bands, frames)
OUTPUT_NAME = "logits"  # (batch,)


def export_voice_onnx(model: VoiceModel, path: Path) -> Path:
    """Export with a dynamic batch axis (written atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = model.spec.features
    example = torch.zeros(2, spec.bands, spec.frames)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            copy.deepcopy(model).cpu().eval(),
            (example,),
            str(partial),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    partial.replace(path)
    return path


def onnx_logits(path: Path, inputs: np.ndarray) -> np.ndarray:
    """Logits of (N, bands, frames) inputs from the exported graph, in ONNX Runtime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.astype(np.float32)})
    return np.asarray(logits)
