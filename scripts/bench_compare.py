"""Time this checkout against a baseline commit in one run, interleaved, over HTTP (issue 25).

Machines differ by tens of percent and drift within a run, so seconds from another day mean
little: this starts `deepfake-stream serve` once from each tree (the baseline in a temporary git
worktree, the candidate from this checkout or a given commit), warms both, then uploads every
file to one and the other in turn, alternating which goes first each round. It prints, per
file, each side's median seconds and their ratio (candidate / baseline), the median of those
ratios, each server's peak RSS (with its children), and every verdict that differs.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_compare.py --baseline ce0d701 \\
        ../shared/media/video/real/dfdc_lynaeydofd.mp4 ../shared/media --rounds 3

With --concurrent N it then sends N uploads at once to the candidate and counts the answers.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
MEDIA_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".jpg", ".jpeg", ".png", ".webp"}
READY_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 600
RSS_SAMPLE_S = 0.05
SERVE = "import sys; from deepfake_stream.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Server:
    """One `deepfake-stream serve` started from a source tree."""

    name: str
    tree: Path
    port: int
    process: subprocess.Popen[bytes]
    log_folder: Path
    peak_rss: int = 0
    seconds: dict[Path, list[float]] = field(default_factory=dict)
    verdicts: dict[Path, tuple[str, float | None]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        try:
            root = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def source_tree(revision: str | None) -> Iterator[Path]:
    """This checkout (None), or a temporary worktree of `revision`."""
    if revision is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="dfs-bench-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision],
            check=True,
            capture_output=True,
        )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )


@contextmanager
def serving(name: str, tree: Path, log_folder: Path) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "DFS_HOME": str(tree),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    log = (log_folder / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
        cwd=tree,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(name, tree, port, process, log_folder)
    try:
        wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.log_folder / f"{server.name}.log").read_text(errors="replace")
            raise SystemExit(f"{server.name}: the server exited:\n{log[-3000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{server.name}: not ready after {READY_TIMEOUT_S} s")


def upload(client: httpx.Client, server: Server, path: Path) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    with path.open("rb") as handle:
        response = client.post(
            f"{server.url}/v1/analyze", files={"file": (path.name, handle)}, timeout=None
        )
    elapsed = time.perf_counter() - started
    body: dict[str, object] = response.json()
    if response.status_code != 200:
        body = {"verdict": f"error {response.status_code}: {body.get('error', body)}"}
    return elapsed, body


class RssWatch:
    """Samples every server's RSS in a thread, keeping each one's peak."""

    def __init__(self, servers: list[Server]) -> None:
        self._servers = servers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            for server in self._servers:
                server.peak_rss = max(server.peak_rss, server.rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def media_files(inputs: list[Path]) -> list[Path]:
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES))
        else:
            found.append(item)
    return list(dict.fromkeys(p.resolve() for p in found))


def compare(servers: list[Server], files: list[Path], rounds: int) -> None:
    baseline, candidate = servers
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client, RssWatch(servers):
        for server in servers:  # first calls allocate and build caches
            for path in files[:2]:
                upload(client, server, path)
        for round_index in range(rounds):
            order = servers if round_index % 2 == 0 else servers[::-1]
            for path in files:
                for server in order:
                    seconds, body = upload(client, server, path)
                    server.seconds.setdefault(path, []).append(seconds)
                    probability = body.get("probability")
                    server.verdicts[path] = (
                        str(body.get("verdict")),
                        probability if isinstance(probability, float) else None,
                    )
            print(f"round {round_index + 1}/{rounds} done", file=sys.stderr)
    report(baseline, candidate, files)


def report(baseline: Server, candidate: Server, files: list[Path]) -> None:
    common = os.path.commonpath([str(p.parent) for p in files]) if files else ""
    print(f"{'file':44} {baseline.name:>12} {candidate.name:>12} {'ratio':>6}  verdicts")
    ratios = []
    rows = []
    for path in files:
        before = statistics.median(baseline.seconds[path])
        after = statistics.median(candidate.seconds[path])
        ratio = after / before
        ratios.append(ratio)
        (was, p_was), (now, p_now) = baseline.verdicts[path], candidate.verdicts[path]
        change = "same" if was == now else f"{was} -> {now}"
        name = os.path.relpath(path, common) if common else path.name
        print(f"{name:44} {before:12.3f} {after:12.3f} {ratio:6.2f}  {change}")
        rows.append(
            {
                "file": name,
                "baseline_s": baseline.seconds[path],
                "candidate_s": candidate.seconds[path],
                "ratio": round(ratio, 3),
                "baseline_verdict": was,
                "candidate_verdict": now,
                "baseline_probability": p_was,
                "candidate_probability": p_now,
            }
        )
    print(
        f"median ratio {statistics.median(ratios):.3f} over {len(files)} files "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    for server in (baseline, candidate):
        print(f"peak RSS {server.name}: {server.peak_rss / 2**20:,.0f} MB")
    print(
        json.dumps(
            {
                "rows": rows,
                "median_ratio": statistics.median(ratios),
                "peak_rss_mb": {s.name: round(s.peak_rss / 2**20) for s in (baseline, candidate)},
            }
        ),
        file=sys.stderr,
    )


def concurrent_uploads(server: Server, path: Path, count: int) -> None:
    with httpx.Client(
        timeout=REQUEST_TIMEOUT_S, limits=httpx.Limits(max_connections=count)
    ) as client:
        started = time.perf_counter()
        with RssWatch([server]), ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(lambda _: upload(client, server, path), range(count)))
    verdicts = Counter(str(body.get("verdict")) for _, body in answers)
    print(
        f"{count} concurrent uploads of {path.name} to {server.name}: {len(answers)} answered in "
        f"{time.perf_counter() - started:.1f} s; answers {dict(verdicts)}; "
        f"peak RSS {server.peak_rss / 2**20:,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("media", nargs="+", type=Path, help="files or folders to upload")
    parser.add_argument("--baseline", default="ce0d701", help="baseline commit (default ce0d701)")
    parser.add_argument("--candidate", help="candidate commit (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=3, help="0: no comparison")
    parser.add_argument("--concurrent", type=int, default=0, help="then N uploads at once")
    args = parser.parse_args()
    files = media_files(args.media)
    if not files:
        raise SystemExit("no media files given")
    with ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dfs-bench-logs-")))
        base_tree = stack.enter_context(source_tree(args.baseline))
        cand_tree = stack.enter_context(source_tree(args.candidate))
        baseline = stack.enter_context(serving(args.baseline[:12], base_tree, logs))
        candidate = stack.enter_context(
            serving((args.candidate or "checkout")[:12], cand_tree, logs)
        )
        if args.rounds > 0:
            compare([baseline, candidate], files, args.rounds)
        if args.concurrent:
            concurrent_uploads(candidate, files[0], args.concurrent)


if __name__ == "__main__":
    main()
