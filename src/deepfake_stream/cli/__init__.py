"""The deepfake-stream command: analyze, serve, worker, keys, webhooks, info, eval, calibrate,
data import, train, fuse, export-onnx, bench.

Exit codes: one table for every command (common.EXIT_CODES), errors mapped by exit_code_for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..config import Settings, load_settings
from ..errors import DeepfakeStreamError
from ..logs import configure_logging
from . import service, training
from .common import (
    EXIT_CONFIG,
    EXIT_FAKE,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    exit_code_for,
)
from .parser import build_parser

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAKE",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
]


# Commands that read a training recipe rather than the service config.
RECIPE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": training.train_command,
    "lofo": training.lofo,
    "fuse": training.fuse,
}
SERVICE_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "analyze": service.analyze,
    "serve": service.serve,
    "worker": service.worker,
    "keys": service.keys,
    "watch": service.watch,
    "webhooks": service.webhooks,
    "info": service.info,
    "export-onnx": service.export_onnx,
    "bench": service.bench,
    "eval": training.evaluate_command,
    "calibrate": training.calibrate_command,
    "data": training.import_faces,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("info", "text")
    try:
        if args.command in RECIPE_COMMANDS:
            return RECIPE_COMMANDS[args.command](args)
        settings = load_settings(args.config)
        if args.command in ("serve", "worker"):
            configure_logging(settings.server.log_level, settings.server.log_format)
        return SERVICE_COMMANDS[args.command](args, settings)
    except DeepfakeStreamError as exc:
        print(f"deepfake-stream: {exc.code}: {exc.message}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        return EXIT_INTERNAL
