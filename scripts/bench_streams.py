"""Benchmark live streams against the targets of issue #11, in one process with the real model
(the same session, sampler and readers the service runs), on the clips of ../shared/media.

    .venv/bin/python scripts/bench_streams.py splice       # fake spliced into a real clip
    .venv/bin/python scripts/bench_streams.py concurrent [--streams 4] [--seconds 120]
    .venv/bin/python scripts/bench_streams.py memory [--minutes 30]

splice: a 720p stream of real (10 s), DFDC fake (10 s), real (10 s), and the real clip alone,
  each played as if live: when the first fake frame was analysed, when ALERT came, whether it
  ended, and whether the real one ever alerted.
concurrent: N 720p real streams at once, looped, at the adaptive rates: the lag between a
  frame's stream time and the end of its analysis, first and last minute.
memory: one looped stream for --minutes; the process RSS every minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import psutil

from deepfake_stream.config import Settings, load_settings
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.streams.ingest import StreamReader
from deepfake_stream.streams.session import Event, StreamSession

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media" / "video"
REAL = MEDIA / "real" / "dfdc_lynaeydofd.mp4"
FAKE = MEDIA / "fake" / "dfdc_abofeumbvv.mp4"
SIZE = (1280, 720)
FPS = 25


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return [
            frame.reformat(width=SIZE[0], height=SIZE[1], format="rgb24").to_ndarray()
            for frame in container.decode(stream)
        ]


def write_clip(path: Path, parts: list[list[np.ndarray]]) -> list[float]:
    """Encode the parts one after another at FPS; the start time of each part."""
    starts = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        index = 0
        for part in parts:
            starts.append(index / FPS)
            for rgb in part:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = index
                frame.time_base = Fraction(1, FPS)
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    return starts


def play(analyzer: Analyzer, settings: Settings, source: Path) -> list[tuple[float, Event]]:
    """Play a file as if live through a session; the events with their wall-clock offsets."""
    session = StreamSession(uuid.uuid4().hex, analyzer, settings.streams, str(source))
    reader = StreamReader(source, session, on_end=session.close)
    began = time.monotonic()
    reader.start()
    events = []
    while (event := session.events.get()) is not None:
        events.append((time.monotonic() - began, event))
    return events


def splice(settings: Settings) -> None:
    analyzer = Analyzer(settings)
    real, fake = frames_of(REAL), frames_of(FAKE)
    with tempfile.TemporaryDirectory() as folder:
        spliced = Path(folder) / "spliced.mp4"
        _, fake_start, fake_end = write_clip(spliced, [real, fake, real])
        alone = Path(folder) / "real.mp4"
        write_clip(alone, [real, real, real])
        for name, path in (("spliced", spliced), ("real", alone)):
            events = play(analyzer, settings, path)
            analysed = [e for _, e in events if e["type"] == "scores"]
            states = [(at, e) for at, e in events if e["type"] == "state"]
            alerts = [e for _, e in events if e["type"] == "alert"]
            print(f"{name}: {len(analysed)} frames analysed (time: person probability/state)")
            for e in analysed:
                people = ", ".join(
                    f"{p['track_id']} {p['probability']:.2f}/{p['state']}" for p in e["people"]
                )
                print(f"  {e['time_s']:5.1f} s: {people or 'no face'}")
            for at, e in states:
                print(
                    f"  {e['time_s']:6.2f} s stream (+{at - e['time_s']:.2f} s wall): person "
                    f"{e['track_id']} {e['previous']} -> {e['state']} ({e['score']:.2f})"
                )
            for e in alerts:
                print(f"  alert {e['rule']} at {e['time_s']:.2f} s: {e['message']}")
            if name == "spliced":
                first_fake = next(e["time_s"] for e in analysed if e["time_s"] >= fake_start)
                entered = next(((at, e) for at, e in states if e["state"] == "alert"), None)
                left = next(
                    (e for _, e in states if e["previous"] == "alert" and e["time_s"] >= fake_end),
                    None,
                )
                if entered is None:
                    print("  NO ALERT on the spliced fake")
                else:
                    at, e = entered
                    print(
                        f"  fake from {fake_start:.1f} s to {fake_end:.1f} s; first fake frame "
                        f"analysed at {first_fake:.2f} s; ALERT at stream {e['time_s']:.2f} s, "
                        f"wall {at:.2f} s: {at - first_fake:.2f} s after that frame, "
                        f"{at - fake_start:.2f} s after the fake began; left ALERT: "
                        f"{'at ' + format(left['time_s'], '.2f') + ' s' if left else 'no'}"
                    )
            else:
                print(f"  real clip entered ALERT: {any(e['state'] == 'alert' for _, e in states)}")
    analyzer.close()


def looped_real(folder: Path, seconds: int) -> Path:
    """The real clip at 720p, repeated to last `seconds`: encoded once, then remuxed."""
    once = folder / "once.mp4"
    write_clip(once, [frames_of(REAL)])
    path = folder / "looped.mp4"
    with av.open(str(once)) as source, av.open(str(path), mode="w") as target:
        incoming = source.streams.video[0]
        outgoing = target.add_stream_from_template(incoming)
        packets = [packet for packet in source.demux(incoming) if packet.dts is not None]
        span = max(p.pts for p in packets) + packets[0].duration
        for loop in range(max(1, round(seconds / 10))):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                copy.pts = packet.pts + loop * span
                copy.dts = packet.dts + loop * span
                copy.duration = packet.duration
                copy.is_keyframe = packet.is_keyframe
                copy.time_base = packet.time_base
                copy.stream = outgoing
                target.mux(copy)
    return path


def concurrent(settings: Settings, streams: int, seconds: int) -> None:
    analyzer = Analyzer(settings)
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        source = looped_real(Path(folder), seconds)
        lags: list[list[tuple[float, float]]] = [[] for _ in range(streams)]
        threads = []

        def run(index: int) -> None:
            for at, event in play(analyzer, settings, source):
                if event["type"] == "scores":
                    lags[index].append((event["time_s"], at - event["time_s"]))

        rss_start = process.memory_info().rss / 2**20
        for index in range(streams):
            threads.append(threading.Thread(target=run, args=(index,)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        rss_end = process.memory_info().rss / 2**20
    for index, values in enumerate(lags):
        first = [lag for t, lag in values if t < 60]
        last = [lag for t, lag in values if t >= seconds - 60]
        print(
            f"stream {index}: {len(values)} frames analysed; lag (analysis end - frame time) "
            f"first minute median {statistics.median(first):.2f} s max {max(first):.2f} s, "
            f"last minute median {statistics.median(last):.2f} s max {max(last):.2f} s"
        )
    print(f"RSS {rss_start:.0f} MB before, {rss_end:.0f} MB after")
    analyzer.close()


def memory(settings: Settings, minutes: int) -> None:
    analyzer = Analyzer(settings)
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        source = looped_real(Path(folder), minutes * 60)
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            began = time.monotonic()
            while not done.wait(60):
                samples.append(((time.monotonic() - began) / 60, process.memory_info().rss / 2**20))
                print(f"  {samples[-1][0]:5.1f} min: RSS {samples[-1][1]:.0f} MB", flush=True)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        events = play(analyzer, settings, source)
        done.set()
    analysed = sum(e["type"] == "scores" for _, e in events)
    streamed_min = max(e.get("time_s", 0.0) for _, e in events) / 60  # the loop rounds up
    print(
        f"{streamed_min:.1f} min stream, {analysed} frames analysed; RSS by minute:",
        [round(mb) for _, mb in samples],
    )
    analyzer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("splice")
    several = commands.add_parser("concurrent")
    several.add_argument("--streams", type=int, default=4)
    several.add_argument("--seconds", type=int, default=120)
    long = commands.add_parser("memory")
    long.add_argument("--minutes", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings(args.config)
    if args.command == "splice":
        splice(settings)
    elif args.command == "concurrent":
        concurrent(settings, args.streams, args.seconds)
    else:
        memory(settings, args.minutes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
