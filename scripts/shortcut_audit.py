"""The shortcut audit of the face branch (weights/README.md, "Shortcut audit").

Each FOLDER is a metadata.csv crop folder; FOLDER@CONFIG keeps only the groups that training
config held out. Prints, as markdown: AUC of every real source against every fake family, the
verdicts a photo of each would get, and how well a probe on the embedding tells the real
sources apart. Example (the model card's):

    .venv/bin/python scripts/shortcut_audit.py --config configs/default.yaml --per-cell 500 \
        ../shared/data/dfdc-faces@configs/train/wild-lite0-cpu.yaml \
        .cache/faces/utkface@configs/train/wild-lite0-cpu.yaml \
        .cache/faces/ffhq@configs/train/wild-lite0-cpu.yaml \
        .cache/faces/stylegan@configs/train/wild-lite0-cpu.yaml \
        .cache/faces/lfw ../shared/data/genfaces
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deepfake_stream.config import load_settings
from deepfake_stream.detection.weights import read_manifest, write_manifest
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.training.audit import (
    AuditFolder,
    audit,
    audit_lines,
    audit_records,
    score_records,
    source_metrics,
)


def folder_argument(value: str) -> AuditFolder:
    path, _, config = value.partition("@")
    return AuditFolder(Path(path), Path(config) if config else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", nargs="+", type=folder_argument, help="FOLDER[@CONFIG]")
    parser.add_argument("--config", type=Path, help="service config (its weights are audited)")
    parser.add_argument("--per-cell", type=int, default=500, help="crops per source and family")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--write", action="store_true", help="keep the per-source figures in the weights manifest"
    )
    args = parser.parse_args()
    settings = load_settings(args.config)
    analyzer = Analyzer(settings)
    try:
        records = audit_records(args.folders, args.per_cell, args.seed)
        result = audit(analyzer, score_records(analyzer, records), args.seed)
    finally:
        analyzer.close()
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    if args.write:
        manifest_path = settings.model.weights
        if manifest_path is None:
            parser.error("an untrained model has no manifest to write")
        manifest = read_manifest(manifest_path)
        updated = manifest.model_copy(update={"source_metrics": source_metrics(result)})
        write_manifest(manifest_path, updated)
    print("\n".join(audit_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
