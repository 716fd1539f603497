"""The command line: every command and its arguments (handlers: service.py, training.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import __version__
from ..config import project_home
from .common import EXIT_CODES, EXIT_FAKE

# The team's shared media, beside the checkout.
DEFAULT_BENCH_MEDIA = project_home().parent / "shared" / "media"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-stream",
        description="Tell whether images, videos or audio show a manipulated (deepfake) face "
        "or voice.",
        epilog="Exit codes, the same for every command: "
        + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--config",
            "-c",
            help="YAML config (default: $DFS_CONFIG, else the project home's configs/default.yaml)",
        )
        return sub

    analyze = with_config(commands.add_parser("analyze", help="analyse files and print verdicts"))
    analyze.add_argument("files", nargs="+", type=Path, help="images, videos or audio files")
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
