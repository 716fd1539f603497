"""Benchmark: time each stage on a folder of media and report peak memory.

Stage rates are per sampled frame (decode, detect) and per face (classify); end-to-end
seconds are wall time of Analyzer.analyze; peak RSS is sampled while each file runs.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from .errors import DeepfakeStreamError
from .media import SNIFF_BYTES, sniff
from .pipeline import Analyzer

RSS_SAMPLE_INTERVAL_S = 0.02


@dataclass(frozen=True)
class BenchRow:
    file: str  # path relative to the media folder
    kind: str  # image or video
    resolution: str  # width x height
    frames: int  # sampled frames
    frames_with_face: int  # sampled frames where at least one face was found
    faces: int  # face crops classified
    decode_fps: float  # sampled frames per second of decoding
    detect_fps: float  # sampled frames per second through MTCNN and cropping
    classify_fps: float  # faces per second through the classifier
    seconds: float  # end to end, median over repeats
    peak_rss_mb: float  # highest resident memory seen while this file ran
    verdict: str
    probability: float | None
    error: str | None = None


class _PeakRss:
    """Samples this process's RSS in a thread while a block runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.peak = 0

    def __enter__(self) -> _PeakRss:
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def media_files(root: Path) -> list[Path]:
    """Images, videos and audio files under root (by their bytes), sorted."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            with path.open("rb") as handle:
                sniff(handle.read(SNIFF_BYTES))
        except DeepfakeStreamError:
            continue
        found.append(path)
    return found


def _rate(count: int, milliseconds: float) -> float:
    return round(count / (milliseconds / 1000), 1) if milliseconds > 0 else 0.0


def bench_file(analyzer: Analyzer, path: Path, root: Path, repeat: int) -> BenchRow:
    name = str(path.relative_to(root))
    seconds = []
    with _PeakRss() as rss:
        try:
            for _ in range(repeat):
                started = time.perf_counter()
                result = analyzer.analyze(path)
                seconds.append(time.perf_counter() - started)
        except DeepfakeStreamError as exc:
            return BenchRow(name, "?", "?", 0, 0, 0, 0, 0, 0, 0, 0, "error", None, exc.message)
    faces = [face for segment in result.segments for face in segment.faces]
    frames = result.media.frames_sampled
    timings = result.timings
    return BenchRow(
        file=name,
        kind=result.media.type,
        resolution=f"{result.media.width}x{result.media.height}",
        frames=frames,
        frames_with_face=len({face.time_s for face in faces}),
        faces=len(faces),
        decode_fps=_rate(frames, timings.decode_ms),
        detect_fps=_rate(frames, timings.detect_ms),
        classify_fps=_rate(len(faces), timings.classify_ms),
        seconds=round(statistics.median(seconds), 3),
        peak_rss_mb=round(rss.peak / 2**20, 1),
        verdict=result.verdict.value,
        probability=result.probability,
    )


def run_bench(analyzer: Analyzer, root: Path, repeat: int = 3) -> list[BenchRow]:
    files = media_files(root)
    for path in files:  # warm-up on the first file that analyses: first calls allocate
        try:
            analyzer.analyze(path)
            break
        except DeepfakeStreamError:
            continue
    return [bench_file(analyzer, path, root, repeat) for path in files]


def process_peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def format_table(rows: list[BenchRow]) -> str:
    header = (
        f"{'file':34} {'res':>9} {'faces/frames':>12} {'decode fps':>10} {'detect fps':>10} "
        f"{'classify /s':>11} {'e2e s':>6} {'peak MB':>8}  verdict"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if row.error:
            lines.append(f"{row.file:34} error: {row.error}")
            continue
        lines.append(
            f"{row.file:34} {row.resolution:>9} {row.frames_with_face:>5}/{row.frames:<6} "
            f"{row.decode_fps:>10} {row.detect_fps:>10} {row.classify_fps:>11} "
            f"{row.seconds:>6.2f} {row.peak_rss_mb:>8}  {row.verdict}"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: list[BenchRow]) -> list[dict[str, object]]:
    return [asdict(row) for row in rows]
