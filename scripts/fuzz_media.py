"""Long fuzzing runs over the media entry points: seeded mutations of the committed fixtures
(tests/support/mutations.py) and the structured edge cases (tests/support/edge_cases.py), each
through load_media and, every --analyze-every, through the whole Analyzer.analyze; or, with
--http, POSTed to a real `deepfake-stream serve` process (every --job-every also as a job, every
image also as a WebSocket stream frame). Every input that breaks the contract (anything but a
result or a 4xx error with its own code, past the time limit, or leaving a file behind) is
written to --corpus-dir with what went wrong; --minimise FILE... shrinks such inputs while they
fail the same way.

    .venv/bin/python scripts/fuzz_media.py --count 10000 --seed 1 --corpus-dir fuzz-corpus
    .venv/bin/python scripts/fuzz_media.py --http --count 1000 --seed 2 --corpus-dir fuzz-corpus
    .venv/bin/python scripts/fuzz_media.py --minimise fuzz-corpus/*.bin
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness's mutations live with the tests
# ruff: noqa: E402 (the imports from tests/ need the line above)

from deepfake_stream.config import AnalysisOptions, Settings, load_settings
from deepfake_stream.deadline import Deadline
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer
from support.contract import (
    LIMIT_SLACK_S,
    OK,
    is_image,
    logged_errors,
    outcome_of,
    post_analyze,
    run_job,
    stream_frame,
)
from support.edge_cases import CASES
from support.live import server_process
from support.mutations import FIXTURES, random_mutation

HEALTH_EVERY = 50  # inputs between /healthz checks


@dataclass
class Tally:
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)  # corpus file names
    slowest_s: float = 0.0
    slowest: str = ""

    def record(self, layer: str, code: str, seconds: float, name: str) -> None:
        self.outcomes[f"{layer}:{code}"] += 1
        if seconds > self.slowest_s:
            self.slowest_s, self.slowest = seconds, f"{layer} {name}"


def inputs(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """The edge cases once, then `count` seeded mutations."""
    for name, build in CASES.items():
        yield f"edge.{name}", build()
    rng = random.Random(seed)
    for index in range(count):
        mutation = random_mutation(rng)
        yield f"{index:06d}.{mutation.name}", mutation.apply()


def save_failure(corpus: Path, name: str, data: bytes, problem: str) -> str:
    corpus.mkdir(parents=True, exist_ok=True)
    stem = name.replace("/", "_")[:180]
    (corpus / f"{stem}.bin").write_bytes(data)
    (corpus / f"{stem}.txt").write_text(problem)
    return stem


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


# In process -------------------------------------------------------------------------------


def run_in_process(args: argparse.Namespace, settings: Settings, tally: Tally) -> None:
    limited = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_analysis_s": args.time_limit})}
    )
    analyzer = Analyzer(limited)
    limits, sampling = limited.limits, limited.sampling
    options = AnalysisOptions(args.segments, args.frames_per_segment)
    scratch = Path(tempfile.mkdtemp(prefix="dfs-fuzz-"))
    private_temp = scratch / "tmp"
    private_temp.mkdir()
    tempfile.tempdir = str(private_temp)  # what the code under test leaves there is counted
    rss_before = rss_mb(os.getpid())
    print(f"analyzer loaded; RSS {rss_before:.0f} MB", flush=True)
    try:
        for number, (name, data) in enumerate(inputs(args.count, args.seed), 1):
            path = scratch / "input"
            path.write_bytes(data)
            deadline = Deadline.starting_now(args.time_limit)
            layers: list[tuple[str, Callable[[], object]]] = [
                ("load", partial(load_media, path, limits, sampling, deadline=deadline))
            ]
            if name.startswith("edge.") or number % args.analyze_every == 0:
                layers.append(("analyze", partial(analyzer.analyze, path, options)))
            for layer, run in layers:
                try:
                    outcome = outcome_of(run)
                except Exception:
                    tally.failures.append(
                        save_failure(args.corpus_dir, name, data, traceback.format_exc())
                    )
                    tally.record(layer, "INTERNAL", 0.0, name)
                    continue
                tally.record(layer, outcome.code, outcome.seconds, name)
                if outcome.seconds > args.time_limit + LIMIT_SLACK_S:
                    problem = f"{layer} took {outcome.seconds:.1f} s ({outcome.code})"
                    tally.failures.append(save_failure(args.corpus_dir, name, data, problem))
                    tally.outcomes["HANG"] += 1
                if layer == "load" and outcome.code != OK:
                    break  # the analysis would fail the same way
            path.unlink()
            if list(scratch.iterdir()) != [private_temp] or any(private_temp.iterdir()):
                tally.outcomes["LEAKED_FILES"] += 1
            if number % 500 == 0:
                print(f"{number} inputs: {dict(tally.outcomes)}", flush=True)
    finally:
        analyzer.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"RSS {rss_before:.0f} MB before the inputs, {rss_mb(os.getpid()):.0f} MB after")


# Over HTTP --------------------------------------------------------------------------------


def run_over_http(args: argparse.Namespace, tally: Tally) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dfs-fuzz-http-"))
    uploads, media = scratch / "uploads", scratch / "media"
    sampling = {
        key: value
        for key, value in (
            ("segments", args.segments),
            ("frames_per_segment", args.frames_per_segment),
        )
        if value is not None
    }
    private_temp = scratch / "tmp"  # the server's TMPDIR: what it leaves there is counted
    private_temp.mkdir()
    env = {"DFS_LIMITS__MAX_ANALYSIS_S": str(args.time_limit), "TMPDIR": str(private_temp)}
    try:
        with server_process(scratch, Path(args.config), **env) as (server, client):
            base = str(client.base_url)
            for warm_up in ("photo.jpg", "real_hdtf_2s.mp4"):  # RSS is measured from here
                post_analyze(client, warm_up, (FIXTURES / warm_up).read_bytes(), sampling)
            rss_before = rss_mb(server.pid)
            temp_at_start = set(private_temp.iterdir())  # what the server made while starting
            print(f"server ready, warmed up; RSS {rss_before:.0f} MB", flush=True)
            for number, (name, data) in enumerate(inputs(args.count, args.seed), 1):
                layers: list[tuple[str, Callable[[], str]]] = [
                    ("http", partial(post_analyze, client, name, data, sampling))
                ]
                if number % args.job_every == 0:
                    job = partial(run_job, client, name, data, args.time_limit, sampling)
                    layers.append(("job", job))
                if is_image(data) and number % args.stream_every == 0:
                    layers.append(("stream", partial(stream_frame, base, data)))
                for layer, run in layers:
                    began = time.monotonic()
                    try:
                        code = run()
                    except Exception:
                        problem = traceback.format_exc()
                        tally.failures.append(save_failure(args.corpus_dir, name, data, problem))
                        tally.record(layer, "INTERNAL", 0.0, name)
                        continue
                    seconds = time.monotonic() - began
                    tally.record(layer, code, seconds, name)
                    if seconds > args.time_limit + LIMIT_SLACK_S:
                        problem = f"{layer} took {seconds:.1f} s ({code})"
                        tally.failures.append(save_failure(args.corpus_dir, name, data, problem))
                        tally.outcomes["HANG"] += 1
                left = [*uploads.iterdir(), *media.iterdir()]
                if left or set(private_temp.iterdir()) - temp_at_start:
                    tally.outcomes["LEAKED_FILES"] += 1
                if number % HEALTH_EVERY == 0:
                    if server.poll() is not None:
                        raise SystemExit(f"the server exited; see {scratch}/server.log")
                    if client.get("/healthz").status_code != 200:
                        tally.outcomes["HEALTHZ_NOT_200"] += 1
                if number % 500 == 0:
                    print(f"{number} inputs: {dict(tally.outcomes)}", flush=True)
            time.sleep(2.0)  # the last analysis' memory goes back
            health = client.get("/healthz").status_code
            rss_after = rss_mb(server.pid)
            change = (rss_after - rss_before) / rss_before * 100
            print(
                f"server alive: {server.poll() is None}; /healthz: {health}; RSS "
                f"{rss_before:.0f} MB before, {rss_after:.0f} MB after ({change:+.1f} %)"
            )
        errors = logged_errors(scratch / "server.log")
        tally.outcomes["server:LOGGED_ERROR:INTERNAL"] += len(errors)
        if errors:
            args.corpus_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(scratch / "server.log", args.corpus_dir / "server.log")
            tally.failures.append("server.log")
            print(f"the server logged {len(errors)} errors; its log is in {args.corpus_dir}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# Minimising -------------------------------------------------------------------------------


def failure_signature(path: Path, settings: Settings) -> str | None:
    """Where load_media fails outside the contract (exception type and raising line), or None."""
    try:
        outcome_of(lambda: load_media(path, settings.limits, settings.sampling))
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno}"
    return None


def minimise(source: Path, settings: Settings) -> None:
    """Delete ever smaller chunks while the input fails the same way (ddmin, greedy)."""
    data = source.read_bytes()
    probe = source.with_suffix(".probe")
    probe.write_bytes(data)
    wanted = failure_signature(probe, settings)
    if wanted is None:
        print(f"{source}: meets the contract; nothing to minimise")
        probe.unlink()
        return

    def still_fails(candidate: bytes) -> bool:
        probe.write_bytes(candidate)
        return failure_signature(probe, settings) == wanted

    chunk = len(data) // 2
    while chunk:
        start = 0
        while start < len(data):
            candidate = data[:start] + data[start + chunk :]
            if candidate and still_fails(candidate):
                data = candidate
            else:
                start += chunk
        chunk //= 2
    probe.unlink()
    target = source.with_suffix(".min" + source.suffix)
    target.write_bytes(data)
    print(f"{source}: {wanted}; {source.stat().st_size} -> {len(data)} bytes: {target}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000, help="mutated inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus-dir", type=Path, default=Path("fuzz-corpus"))
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--time-limit", type=float, default=30.0, help="limits.max_analysis_s")
    parser.add_argument("--analyze-every", type=int, default=10, help="in process")
    parser.add_argument("--segments", type=int, help="per analysis (default: the config's)")
    parser.add_argument("--frames-per-segment", type=int, help="per analysis")
    parser.add_argument("--http", action="store_true", help="against a real server process")
    parser.add_argument("--job-every", type=int, default=10, help="with --http")
    parser.add_argument("--stream-every", type=int, default=5, help="images, with --http")
    parser.add_argument("--minimise", type=Path, nargs="+", metavar="FILE")
    args = parser.parse_args()
    # Damaged EXIF is what these inputs are: Pillow's warnings about it are expected.
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL.TiffImagePlugin")
    settings = load_settings(args.config)
    if args.minimise:
        for source in args.minimise:
            minimise(source, settings)
        return 0
    tally = Tally()
    began = time.monotonic()
    if args.http:
        run_over_http(args, tally)
    else:
        run_in_process(args, settings, tally)
    internal = sum(n for outcome, n in tally.outcomes.items() if outcome.endswith(":INTERNAL"))
    print(
        f"{args.count} mutated inputs and {len(CASES)} edge cases in "
        f"{time.monotonic() - began:.0f} s (seed {args.seed})"
    )
    for outcome, count in sorted(tally.outcomes.items()):
        print(f"  {outcome:40} {count:>6}")
    print(
        f"internal errors: {internal}; hangs: {tally.outcomes['HANG']}; inputs that left files "
        f"behind: {tally.outcomes['LEAKED_FILES']}; slowest: {tally.slowest_s:.2f} s "
        f"({tally.slowest})"
    )
    if tally.failures:
        print(f"{len(tally.failures)} contract failures written to {args.corpus_dir}")
    return 1 if tally.failures or tally.outcomes["HANG"] or tally.outcomes["LEAKED_FILES"] else 0


if __name__ == "__main__":
    sys.exit(main())
