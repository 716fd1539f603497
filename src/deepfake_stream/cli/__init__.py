"""The deepfake-stream command: analyze, serve, worker, keys, webhooks, info, eval, calibrate,
data import, train, fuse, export-onnx, bench.

Exit codes:
  0  success (and, with --fail-on-fake, no file was judged fake)
  1  unexpected internal error
  2  usage error (bad arguments)
  3  configuration or model error (bad config, missing device, weights that fail their check)
  4  at least one input could not be analysed (missing, corrupt, unsupported, too large)
  5  --fail-on-fake was given and at least one file was judged fake
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..config import Settings, load_settings
from ..errors import ConfigError, WeightsError
from ..logs import configure_logging
from . import service, training
from .common import EXIT_CONFIG, EXIT_FAKE, EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
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
    except (ConfigError, WeightsError) as exc:
        print(f"deepfake-stream: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERNAL
