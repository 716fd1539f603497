"""The commands that train and measure models: eval, calibrate, data import, train, lofo,
fuse."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import Settings
from .common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, counting_bar, is_folder, quiet_analyzer


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    from ..training.evaluate import evaluate, summary_lines

    if not is_folder(args.path):
        return EXIT_USAGE
    analyzer = quiet_analyzer(settings)
    with counting_bar("eval", "item", hidden=args.json) as progress:
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


def error_rate(value: float | None, default: float, kind: str) -> float | None:
    """--max-<kind>-fake-rate, or its default; None (with the reason said) when out of range."""
    rate = default if value is None else value
    if not 0.0 <= rate < 1.0:
        print(f"deepfake-stream: --max-{kind}-fake-rate must be in [0, 1)", file=sys.stderr)
        return None
    return rate


def calibrate_command(args: argparse.Namespace, settings: Settings) -> int:
    from ..training.calibrate import calibrate, summary_lines, thresholds_manifest
    from ..training.metrics import DEFAULT_MAX_FALSE_FAKE_RATE, DEFAULT_MAX_MISSED_FAKE_RATE

    rate = error_rate(args.max_missed_fake_rate, DEFAULT_MAX_MISSED_FAKE_RATE, "missed")
    false_rate = error_rate(args.max_false_fake_rate, DEFAULT_MAX_FALSE_FAKE_RATE, "false")
    if rate is None or false_rate is None:
        return EXIT_USAGE
    if not all(is_folder(folder) for folder in [args.media, *args.reals]):
        return EXIT_USAGE
    if args.validation_of is not None and not args.validation_of.is_file():
        print(f"deepfake-stream: {args.validation_of}: no such training config", file=sys.stderr)
        return EXIT_USAGE
    thresholds_manifest(settings)  # a config that cannot be calibrated fails before any work
    analyzer = quiet_analyzer(settings)
    command = (
        f"deepfake-stream calibrate {args.media} --max-missed-fake-rate {rate}"
        f" --max-false-fake-rate {false_rate}"
        + (f" --config {args.config}" if args.config else "")
        + (f" --validation-of {args.validation_of}" if args.validation_of else "")
        + (" --reals " + " ".join(str(p) for p in args.reals) if args.reals else "")
    )
    with counting_bar("calibrate", "file") as progress:
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


def import_faces(args: argparse.Namespace, settings: Settings) -> int:
    from ..training.importer import FaceImporter, ImportOptions

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


def train_command(args: argparse.Namespace) -> int:
    from ..training.recipe import load_train_settings
    from ..training.train import train

    settings = load_train_settings(args.config)
    print(train(settings, command=f"deepfake-stream train --config {args.config}"))
    return EXIT_OK


def lofo(args: argparse.Namespace) -> int:
    from ..training.lofo import format_table, leave_one_family_out, plan_runs
    from ..training.recipe import load_train_settings

    settings = load_train_settings(args.config)
    try:
        runs = plan_runs(settings, args.families)
    except ValueError as exc:  # before any training: a failure during it is no usage error
        print(f"deepfake-stream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows = leave_one_family_out(runs, command=f"deepfake-stream lofo --config {args.config}")
    print("\n".join(format_table(rows)))
    return EXIT_OK


def fuse(args: argparse.Namespace) -> int:
    from ..training.fusion import fit_fusion, load_fusion_fit_settings

    settings = load_fusion_fit_settings(args.config)
    print(fit_fusion(settings, command=f"deepfake-stream fuse --config {args.config}"))
    return EXIT_OK
