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
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .config import Settings, load_settings
from .errors import ConfigError, DeepfakeStreamError, MediaError, WeightsError
from .logs import configure_logging

if TYPE_CHECKING:
    from .pipeline import Analyzer

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_FAKE = 5
DEFAULT_BENCH_MEDIA = Path("../shared/media")

log = logging.getLogger("deepfake_stream")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-stream",
        description="Tell whether images or videos show a manipulated (deepfake) face.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 usage, 3 config/model error, "
        "4 input could not be analysed, 5 fake found (with --fail-on-fake).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config", "-c", help="YAML config (default: $DFS_CONFIG, else configs/default.yaml)"
        )
        return sub

    analyze = with_config(commands.add_parser("analyze", help="analyse files and print verdicts"))
    analyze.add_argument("files", nargs="+", type=Path, help="images or videos")
    analyze.add_argument("--json", action="store_true", help="print one JSON result per line")
    analyze.add_argument("--segments", type=int, help="override sampling.segments")
    analyze.add_argument(
        "--frames-per-segment", type=int, help="override sampling.frames_per_segment"
    )
    analyze.add_argument(
        "--fail-on-fake", action="store_true", help=f"exit {EXIT_FAKE} if any file is fake"
    )
    analyze.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr for videos (auto: when stderr is a terminal)",
    )

    serve = with_config(commands.add_parser("serve", help="run the REST API"))
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")

    worker = with_config(
        commands.add_parser("worker", help="run queued jobs (queue.broker: redis)")
    )
    worker.add_argument("--threads", type=int, help="override queue.worker_threads")

    watch = with_config(
        commands.add_parser("watch", help="analyse a live stream (or a file played as live)")
    )
    watch.add_argument("source", help="rtsp://, rtmp://, http(s):// (HLS or a file), or a path")
    watch.add_argument("--json", action="store_true", help="print each event as JSON")
    watch.add_argument("--scores", action="store_true", help="print every score event too")
    watch.add_argument(
        "--fail-on-alert", action="store_true", help=f"exit {EXIT_FAKE} if any alert was raised"
    )

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_create = with_config(key_commands.add_parser("create", help="create a key (shown once)"))
    key_create.add_argument("--name", required=True, help="who or what the key is for")
    key_create.add_argument(
        "--scopes",
        default="analyze,jobs:read,jobs:write",
        help="comma-separated: analyze, jobs:read, jobs:write",
    )
    key_create.add_argument("--rate-per-minute", type=int, default=60, help="requests per minute")
    with_config(key_commands.add_parser("list", help="list keys (never the secrets)"))
    key_revoke = with_config(key_commands.add_parser("revoke", help="revoke a key by id"))
    key_revoke.add_argument("key_id")

    webhooks = commands.add_parser("webhooks", help="webhook signing")
    webhook_commands = webhooks.add_subparsers(dest="webhooks_command", required=True)
    with_config(
        webhook_commands.add_parser("secret", help="print the signing secret receivers verify with")
    )

    info = with_config(commands.add_parser("info", help="show model, backend and devices"))
    info.add_argument("--json", action="store_true")

    evaluation = with_config(
        commands.add_parser("eval", help="metrics on face crops or on real/ and fake/ media")
    )
    evaluation.add_argument("path", type=Path, help="metadata.csv crop folder, or media folder")
    evaluation.add_argument(
        "--output", type=Path, default=Path("eval"), help="folder for report.json and plots"
    )
    evaluation.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluation.add_argument(
        "--validation-of",
        type=Path,
        metavar="TRAIN_CONFIG",
        help="crops: only the validation split of this training config (unseen groups)",
    )
    evaluation.add_argument("--sample", type=int, help="crops: at most this many, drawn at random")

    calibration = with_config(
        commands.add_parser(
            "calibrate",
            help="lower a real threshold so that unseen methods' fakes are rarely called real",
        )
    )
    calibration.add_argument(
        "media",
        type=Path,
        help="media folder with real/ and fake/: the threshold of videos; or a face-crop folder"
        " (metadata.csv, e.g. generated faces): the threshold of photos (kept out of training)",
    )
    calibration.add_argument(
        "--reals",
        type=Path,
        nargs="*",
        default=[],
        help="real faces from sources kept out of training (crop or media folders): the share"
        " each rule calls real, recorded with the trade-off",
    )
    calibration.add_argument(
        "--validation-of",
        type=Path,
        help="a face-crop folder used in training: only the groups this training config held out",
    )
    calibration.add_argument(
        "--max-missed-fake-rate",
        type=float,
        default=None,
        help="share of its fakes allowed below the real threshold (default 0.10)",
    )
    calibration.add_argument(
        "--max-false-fake-rate",
        type=float,
        default=None,
        help="photos with --reals face-crop folders: share of those real photos allowed at or "
        "above the photo fake threshold (default 0.02)",
    )
    calibration.add_argument(
        "--write", action="store_true", help="store it in the manifest the config's thresholds use"
    )

    export = with_config(
        commands.add_parser("export-onnx", help="export the configured model to ONNX")
    )
    export.add_argument("output", type=Path, help="the .onnx file to write")

    data = commands.add_parser("data", help="build training data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    importing = with_config(
        data_commands.add_parser(
            "import", help="cut the faces of a folder of photos or videos as the service does"
        )
    )
    importing.add_argument("src", type=Path, help="folder of images or videos (searched deeply)")
    importing.add_argument("dest", type=Path, help="crop folder to write or extend (metadata.csv)")
    importing.add_argument("--source", required=True, help="the source's name (its subfolder)")
    importing.add_argument("--label", choices=["real", "fake"], default="real")
    importing.add_argument("--family", help="a fake's family (e.g. generated); reals: real")
    importing.add_argument(
        "--group-by",
        choices=["image", "person"],
        default="image",
        help="person: files named <Person_Name>_<NNNN> (LFW) are grouped by person",
    )
    importing.add_argument("--limit", type=int, help="at most this many files, drawn at random")
    importing.add_argument("--seed", type=int, default=0)
    importing.add_argument(
        "--skip-duplicates-of",
        type=Path,
        nargs="*",
        default=[],
        help="imported folders: faces near-identical to theirs are skipped",
    )

    train = commands.add_parser("train", help="train a detector and write a weights release")
    train.add_argument("--config", "-c", type=Path, required=True, help="configs/train/*.yaml")

    lofo = commands.add_parser(
        "lofo", help="leave each training family out in turn: how training generalises"
    )
    lofo.add_argument("--config", "-c", type=Path, required=True, help="configs/train/*.yaml")
    lofo.add_argument(
        "--families", nargs="+", help="families to leave out (default: every fake family)"
    )

    fuse = commands.add_parser(
        "fuse", help="fit the fusion of the branches' releases on validation data"
    )
    fuse.add_argument("--config", "-c", type=Path, required=True, help="configs/train/fusion*.yaml")

    bench = with_config(commands.add_parser("bench", help="time each stage on a media folder"))
    bench.add_argument("--media", type=Path, default=DEFAULT_BENCH_MEDIA, help="folder to scan")
    bench.add_argument("--repeat", type=int, default=3, help="runs per file (median)")
    bench.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("info", "text")
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "lofo":
            return _lofo(args)
        if args.command == "fuse":
            return _fuse(args)
        settings = load_settings(args.config)
        if args.command in ("serve", "worker"):
            configure_logging(settings.server.log_level, settings.server.log_format)
        if args.command == "analyze":
            return _analyze(args, settings)
        if args.command == "serve":
            return _serve(args, settings)
        if args.command == "worker":
            from .jobs.commands import run_worker

            run_worker(settings, args.threads)
            return EXIT_OK
        if args.command == "keys":
            return _keys(args, settings)
        if args.command == "watch":
            from .streams.watch import watch as watch_stream

            try:
                alerts = watch_stream(settings, args.source, args.json, args.scores)
            except MediaError as exc:
                print(f"deepfake-stream: {exc.code}: {exc.message}", file=sys.stderr)
                return EXIT_INPUT
            except DeepfakeStreamError as exc:
                print(f"deepfake-stream: {exc.code}: {exc.message}", file=sys.stderr)
                return EXIT_USAGE
            return EXIT_FAKE if args.fail_on_alert and alerts else EXIT_OK
        if args.command == "webhooks":
            from .admin import webhook_secret

            print(webhook_secret(settings))
            return EXIT_OK
        if args.command == "info":
            return _info(args, settings)
        if args.command == "eval":
            return _eval(args, settings)
        if args.command == "calibrate":
            return _calibrate(args, settings)
        if args.command == "export-onnx":
            return _export_onnx(args, settings)
        if args.command == "data":
            return _import_faces(args, settings)
        return _bench(args, settings)
    except (ConfigError, WeightsError) as exc:
        print(f"deepfake-stream: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERNAL


def _analyze(args: argparse.Namespace, settings: Settings) -> int:
    from .pipeline import AnalysisOptions
    from .verdict import UNTRAINED_WARNING

    for value, name in (
        (args.segments, "--segments"),
        (args.frames_per_segment, "--frames-per-segment"),
    ):
        if value is not None and value < 1:
            print(f"deepfake-stream: {name} must be at least 1", file=sys.stderr)
            return EXIT_USAGE
    analyzer = _quiet_analyzer(settings)
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
                on_progress=_progress_bar(path.name) if show_progress else None,
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
        _print_table(("file", "type", "verdict", "p(fake)", "faces", "people", "time"), rows)
        for note in notes:
            print(f"note: {note}")
        if untrained:
            print("note: no trained weights are loaded (untrained model): verdicts stay uncertain")
    if failed:
        return EXIT_INPUT
    if args.fail_on_fake and fake:
        return EXIT_FAKE
    return EXIT_OK


def _is_folder(path: Path) -> bool:
    if path.is_dir():
        return True
    print(f"deepfake-stream: not a folder: {path}", file=sys.stderr)
    return False


def _quiet_analyzer(settings: Settings) -> Analyzer:
    """The Analyzer for one-shot commands, whose output should not drown in INFO logs."""
    from .pipeline import Analyzer

    logging.getLogger().setLevel(logging.WARNING)
    return Analyzer(settings)


def _progress_bar(name: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    bar = tqdm(total=0, desc=name, unit="frame", leave=False, file=sys.stderr)

    def update(stage: str, done: int, total: int) -> None:
        bar.set_postfix_str(stage)
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()
        if stage == "classify":
            bar.close()

    return update


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)
            ).rstrip()
        )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .api import build_app

    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    settings = settings.model_copy(update={"server": server})
    if settings.queue.broker == "embedded":  # this process loads the model: check it now
        from .detection.engine import check_devices
        from .detection.weights import read_manifest, verified_weights_path

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


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from . import admin
    from .api.auth import Scope

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
        _print_table(
            ["id", "name", "scopes", "per min", "created", "revoked"], admin.list_keys(settings)
        )
        return EXIT_OK
    if not admin.revoke_key(settings, args.key_id):
        print(f"deepfake-stream: no active key {args.key_id}", file=sys.stderr)
        return EXIT_INPUT
    print(f"revoked {args.key_id}")
    return EXIT_OK


def _info(args: argparse.Namespace, settings: Settings) -> int:
    import torch

    analyzer = _quiet_analyzer(settings)
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


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from .training.evaluate import evaluate, summary_lines

    if not _is_folder(args.path):
        return EXIT_USAGE
    analyzer = _quiet_analyzer(settings)
    with tqdm(desc="eval", unit="item", file=sys.stderr, disable=args.json) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = evaluate(
                args.path, analyzer, args.output, progress, args.validation_of, args.sample
            )
        except ValueError as exc:
            print(f"deepfake-stream: {exc}", file=sys.stderr)
            return EXIT_INPUT
        finally:
            analyzer.close()
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "files"}))
    else:
        print("\n".join(summary_lines(summary)))
        print(f"report: {args.output / 'report.json'}")
    return EXIT_OK


def _error_rate(value: float | None, default: float, kind: str) -> float | None:
    """--max-<kind>-fake-rate, or its default; None (with the reason said) when out of range."""
    rate = default if value is None else value
    if not 0.0 <= rate < 1.0:
        print(f"deepfake-stream: --max-{kind}-fake-rate must be in [0, 1)", file=sys.stderr)
        return None
    return rate


def _calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from .training.calibrate import calibrate, summary_lines, thresholds_manifest
    from .training.metrics import DEFAULT_MAX_FALSE_FAKE_RATE, DEFAULT_MAX_MISSED_FAKE_RATE

    rate = _error_rate(args.max_missed_fake_rate, DEFAULT_MAX_MISSED_FAKE_RATE, "missed")
    false_rate = _error_rate(args.max_false_fake_rate, DEFAULT_MAX_FALSE_FAKE_RATE, "false")
    if rate is None or false_rate is None:
        return EXIT_USAGE
    if not all(_is_folder(folder) for folder in [args.media, *args.reals]):
        return EXIT_USAGE
    if args.validation_of is not None and not args.validation_of.is_file():
        print(f"deepfake-stream: {args.validation_of}: no such training config", file=sys.stderr)
        return EXIT_USAGE
    thresholds_manifest(settings)  # a config that cannot be calibrated fails before any work
    analyzer = _quiet_analyzer(settings)
    command = (
        f"deepfake-stream calibrate {args.media} --max-missed-fake-rate {rate}"
        f" --max-false-fake-rate {false_rate}"
        + (f" --config {args.config}" if args.config else "")
        + (f" --validation-of {args.validation_of}" if args.validation_of else "")
        + (" --reals " + " ".join(str(p) for p in args.reals) if args.reals else "")
    )
    with tqdm(desc="calibrate", unit="file", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            outcome = calibrate(
                settings,
                analyzer,
                args.media,
                rate,
                args.write,
                command,
                progress,
                args.reals,
                args.validation_of,
                false_rate,
            )
        except ValueError as exc:
            print(f"deepfake-stream: {exc}", file=sys.stderr)
            return EXIT_INPUT
        finally:
            analyzer.close()
    print("\n".join(summary_lines(outcome)))
    return EXIT_OK


def _import_faces(args: argparse.Namespace, settings: Settings) -> int:
    from .training.importer import FaceImporter, ImportOptions

    if not args.src.is_dir():
        print(f"deepfake-stream: usage_error: {args.src} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        options = ImportOptions(
            source=args.source,
            label=args.label.upper(),
            family=args.family or ("real" if args.label == "real" else "fake"),
            group_by=args.group_by,
            limit=args.limit,
            seed=args.seed,
            skip_duplicates_of=tuple(args.skip_duplicates_of),
        )
    except ValueError as exc:
        print(f"deepfake-stream: usage_error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = FaceImporter(settings).run(args.src, args.dest, options)
    print(
        f"{args.source}: {report.imported} faces imported, {report.already_there} already there, "
        f"{report.no_face} without a confident face, {report.duplicates} duplicates, "
        f"{report.unreadable} unreadable"
    )
    return EXIT_OK


def _export_onnx(args: argparse.Namespace, settings: Settings) -> int:
    from .detection.branches import load_face_detector
    from .detection.engine import export_onnx

    detector, manifest, sha = load_face_detector(settings.model)
    path = export_onnx(detector, args.output)
    name = manifest.name if manifest else "untrained"
    print(f"{path}: {name} (weights sha256 {sha})")
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from .training.recipe import load_train_settings
    from .training.train import train

    settings = load_train_settings(args.config)
    print(train(settings, command=f"deepfake-stream train --config {args.config}"))
    return EXIT_OK


def _lofo(args: argparse.Namespace) -> int:
    from .training.lofo import format_table, leave_one_family_out, plan_runs
    from .training.recipe import load_train_settings

    settings = load_train_settings(args.config)
    try:
        runs = plan_runs(settings, args.families)
    except ValueError as exc:  # before any training: a failure during it is no usage error
        print(f"deepfake-stream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = leave_one_family_out(runs, command=f"deepfake-stream lofo --config {args.config}")
    print("\n".join(format_table(rows)))
    return EXIT_OK


def _fuse(args: argparse.Namespace) -> int:
    from .training.fusion import fit_fusion, load_fusion_fit_settings

    settings = load_fusion_fit_settings(args.config)
    print(fit_fusion(settings, command=f"deepfake-stream fuse --config {args.config}"))
    return EXIT_OK


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench import format_table, process_peak_rss_mb, rows_as_dicts, run_bench

    if not _is_folder(args.media):
        return EXIT_USAGE
    analyzer = _quiet_analyzer(settings)
    rows = run_bench(analyzer, args.media, repeat=max(1, args.repeat))
    analyzer.close()
    if args.json:
        print(json.dumps({"rows": rows_as_dicts(rows), "peak_rss_mb": process_peak_rss_mb()}))
    else:
        print(format_table(rows))
        print(f"process peak RSS: {process_peak_rss_mb()} MB")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
