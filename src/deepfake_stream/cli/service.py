"""The commands that run the service or its model: analyze, serve, keys, info, export-onnx,
bench."""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..config import Settings
from ..errors import DeepfakeStreamError, MediaError
from .common import (
    EXIT_FAKE,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    is_folder,
    print_table,
    progress_bar,
    quiet_analyzer,
)


def analyze(args: argparse.Namespace, settings: Settings) -> int:
    from ..config import AnalysisOptions
    from ..verdict import UNTRAINED_WARNING

    for value, name in (
        (args.segments, "--segments"),
        (args.frames_per_segment, "--frames-per-segment"),
    ):
        if value is not None and value < 1:
            print(f"deepfake-stream: {name} must be at least 1", file=sys.stderr)
            return EXIT_USAGE
    analyzer = quiet_analyzer(settings)
    options = AnalysisOptions(segments=args.segments, frames_per_segment=args.frames_per_segment)
    show_progress = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    notes: list[str] = []  # each file's warnings: why a verdict is uncertain, cut-short decodes
    failed = fake = False
    untrained = False
    for path in args.files:
        try:
            if not path.is_file():
                raise MediaError(f"no such file: {path}")
            result = analyzer.analyze(
                path,
                options,
                file_name=path.name,
                on_progress=progress_bar(path.name) if show_progress else None,
            )
        except DeepfakeStreamError as exc:
            failed = True
            if args.json:
                print(
                    json.dumps(
                        {
                            "file_name": path.name,
                            "error": {"code": exc.code, "message": exc.message},
                        }
                    )
                )
            else:
                rows.append((path.name, "-", f"error: {exc.code}", "-", "-", "-", exc.message))
            continue
        fake = fake or result.verdict == "fake"
        untrained = untrained or result.model.untrained
        if args.json:
            print(result.model_dump_json())
            continue
        faces = sum(len(segment.faces) for segment in result.segments)
        notes.extend(f"{path.name}: {w}" for w in result.warnings if w != UNTRAINED_WARNING)
        rows.append(
            (
                path.name,
                result.media.type,
                result.verdict.value,
                "-" if result.probability is None else f"{result.probability:.3f}",
                str(faces),
                str(len(result.people)),
                f"{result.timings.total_ms / 1000:.2f} s",
            )
        )
    analyzer.close()
    if not args.json:
        print_table(("file", "type", "verdict", "p(fake)", "faces", "people", "time"), rows)
        for note in notes:
            print(f"note: {note}")
        if untrained:
            print("note: no trained weights are loaded (untrained model): verdicts stay uncertain")
    if failed:
        return EXIT_INPUT
    if args.fail_on_fake and fake:
        return EXIT_FAKE
    return EXIT_OK


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ..api import build_app

    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    settings = settings.model_copy(update={"server": server})
    if settings.queue.broker == "embedded":  # this process loads the model: check it now
        from ..detection.engine import check_devices
        from ..detection.weights import read_manifest, verified_weights_path

        # Fail now, with a clear message, rather than in the background loader.
        check_devices(settings.model)
        if settings.model.weights is not None:
            verified_weights_path(settings.model.weights, read_manifest(settings.model.weights))
    uvicorn.run(
        build_app(settings),
        host=server.host,
        port=server.port,
        log_level=server.log_level,
        log_config=None,  # keep configure_logging's handler: JSON lines with the request id
        timeout_graceful_shutdown=30,
    )
    return EXIT_OK


def worker(args: argparse.Namespace, settings: Settings) -> int:
    from ..jobs.commands import run_worker

    run_worker(settings, args.threads)
    return EXIT_OK


def watch(args: argparse.Namespace, settings: Settings) -> int:
    from ..streams.watch import watch as watch_stream

    alerts = watch_stream(settings, args.source, args.json, args.scores)  # errors: main()
    return EXIT_FAKE if args.fail_on_alert and alerts else EXIT_OK


def webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from ..admin import webhook_secret

    print(webhook_secret(settings))
    return EXIT_OK


def keys(args: argparse.Namespace, settings: Settings) -> int:
    from .. import admin
    from ..api.auth import Scope

    if args.keys_command == "create":
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        unknown = sorted(set(scopes) - {scope.value for scope in Scope})
        if unknown or not scopes or args.rate_per_minute < 1:
            print(
                f"deepfake-stream: keys create: unknown scopes {unknown}"
                if unknown
                else "deepfake-stream: keys create: give scopes and a rate of at least 1",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(admin.create_key(settings, args.name, scopes, args.rate_per_minute))
        return EXIT_OK
    if args.keys_command == "list":
        print_table(
            ["id", "name", "scopes", "per min", "created", "revoked"], admin.list_keys(settings)
        )
        return EXIT_OK
    if not admin.revoke_key(settings, args.key_id):
        print(f"deepfake-stream: no active key {args.key_id}", file=sys.stderr)
        return EXIT_INPUT
    print(f"revoked {args.key_id}")
    return EXIT_OK


def info(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    analyzer = quiet_analyzer(settings)
    model = analyzer.model
    info = {
        "version": __version__,
        "architecture": model.architecture,
        "weights": model.weights_name,
        "weights_sha256": model.weights_sha256,
        "untrained": model.untrained,
        "engine": analyzer.engine.name,
        "devices": analyzer.engine.devices,
        "precision": settings.model.precision,
        "threads": settings.model.threads,
        "batch_size": settings.model.batch_size,
        "thresholds": {
            "real_below": model.policy.real_below,
            "photo_real_below": model.policy.photo_real_below,
            "fake_at_or_above": model.policy.fake_at_or_above,
            "photo_fake_at_or_above": model.policy.photo_fake_at_or_above,
        },
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    analyzer.close()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:16} {value}")
    return EXIT_OK


def export_onnx(args: argparse.Namespace, settings: Settings) -> int:
    from ..detection.branches import load_face_detector
    from ..detection.engine import export_onnx

    detector, manifest, sha = load_face_detector(settings.model)
    path = export_onnx(detector, args.output)
    name = manifest.name if manifest else "untrained"
    print(f"{path}: {name} (weights sha256 {sha})")
    return EXIT_OK


def bench(args: argparse.Namespace, settings: Settings) -> int:
    from ..bench import format_table, process_peak_rss_mb, rows_as_dicts, run_bench

    if not is_folder(args.media):
        return EXIT_USAGE
    analyzer = quiet_analyzer(settings)
    rows = run_bench(analyzer, args.media, repeat=max(1, args.repeat))
    analyzer.close()
    if args.json:
        print(json.dumps({"rows": rows_as_dicts(rows), "peak_rss_mb": process_peak_rss_mb()}))
    else:
        print(format_table(rows))
        print(f"process peak RSS: {process_peak_rss_mb()} MB")
    return EXIT_OK
