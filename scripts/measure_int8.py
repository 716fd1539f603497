"""Would ONNX Runtime int8 do as the CPU default? (issue 25: only within 0.002 AUC of fp32.)

Quantizes the configured face model's ONNX graph statically (QDQ, per-channel int8 weights,
uint8 activations), calibrated on DFDC crops of the groups the release trained on, and prints
its speed and its AUC beside fp32's on the release's held-out DFDC groups. The SRM filters and
the stem, whose inputs are faint noise residuals, can be kept in fp32 (--keep-front-fp32).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/measure_int8.py \\
        ../shared/data/dfdc-faces --train-config configs/train/wild-fewer-dfdc-lite0-cpu.yaml \\
        --calibration 160 --held-out 1200 --keep-front-fp32

Calibration holds every activation of every calibration crop in memory: 400 crops needed more
than 24 GB here, 160 about 10 GB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.metrics import roc_auc_score

from deepfake_stream.config import load_settings
from deepfake_stream.detection.branches import load_face_detector
from deepfake_stream.detection.crop import normalize_crops
from deepfake_stream.detection.engine import ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, export_onnx
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.data import read_face_folder
from deepfake_stream.training.evaluate import select_crops, service_crops

BATCH = 8
TIMED_CROPS = 64
FRONT_PREFIXES = ("/srm/", "/Concat", "/conv_stem/", "/classifier/")


class Crops(CalibrationDataReader):
    def __init__(self, crops: np.ndarray) -> None:
        self._crops = crops
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._crops):
            return None
        batch = self._crops[self._next : self._next + BATCH]
        self._next += BATCH
        return {ONNX_INPUT_NAME: batch}


def session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ms_per_crop(runner: ort.InferenceSession, crops: np.ndarray, batch: int) -> float:
    runner.run(None, {ONNX_INPUT_NAME: crops[:batch]})
    started = time.perf_counter()
    for start in range(0, len(crops), batch):
        runner.run(None, {ONNX_INPUT_NAME: crops[start : start + batch]})
    return (time.perf_counter() - started) / len(crops) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crops", type=Path, help="a metadata.csv crop folder (DFDC)")
    parser.add_argument("--train-config", type=Path, required=True)
    parser.add_argument("--calibration", type=int, default=160)
    parser.add_argument("--held-out", type=int, default=1200)
    parser.add_argument("--keep-front-fp32", action="store_true")
    args = parser.parse_args()

    settings = load_settings(None)
    analyzer = Analyzer(settings)
    spec = analyzer.model.crop
    records = read_face_folder(args.crops)
    held_out = select_crops(records, args.train_config, None)
    unseen = {record.path for record in held_out}
    trained = [record for record in records if record.path not in unseen]
    rng = np.random.default_rng(1)
    calibration = [trained[i] for i in rng.choice(len(trained), args.calibration, replace=False)]
    measured = [held_out[i] for i in rng.choice(len(held_out), args.held_out, replace=False)]

    with tempfile.TemporaryDirectory() as folder:
        detector, _, _ = load_face_detector(settings.model)
        fp32 = export_onnx(detector, Path(folder) / "fp32.onnx")
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        nodes = [node.name for node in onnx.load(str(prepared)).graph.node]
        kept = [n for n in nodes if n.startswith(FRONT_PREFIXES)] if args.keep_front_fp32 else []
        int8 = Path(folder) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(int8),
            Crops(normalize_crops(service_crops(calibration, analyzer), spec)),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept,
        )
        threads = settings.model.threads
        runners = {"fp32": session(fp32, threads), "int8": session(int8, threads)}
        timed = normalize_crops(service_crops(measured[:TIMED_CROPS], analyzer), spec)
        for name, runner in runners.items():
            for batch in (4, 8):
                print(f"{name} batch {batch}: {ms_per_crop(runner, timed, batch):.1f} ms/crop")
        logits: dict[str, list[np.ndarray]] = {name: [] for name in runners}
        for start in range(0, len(measured), 32):
            chunk = normalize_crops(service_crops(measured[start : start + 32], analyzer), spec)
            for name, runner in runners.items():
                (out,) = runner.run([ONNX_OUTPUT_NAME], {ONNX_INPUT_NAME: chunk})
                logits[name].append(np.asarray(out).reshape(-1))
    labels = np.array([record.label for record in measured])
    scores = {name: np.concatenate(values) for name, values in logits.items()}
    for name, values in scores.items():
        auc = roc_auc_score(labels, values)
        print(f"{name} AUC on {len(measured)} held-out DFDC crops: {auc:.4f}")
    gap = np.abs(scores["fp32"] - scores["int8"])
    print(f"|logit fp32 - int8|: mean {gap.mean():.3f}, max {gap.max():.3f}")


if __name__ == "__main__":
    main()
