"""`deepfake-stream watch`: a file played as if live, one line per event, as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.processes import env_without_dfs

REPO = Path(__file__).resolve().parents[2]
EXECUTABLE = Path(sys.executable).parent / "deepfake-stream"
SCHEMA = json.loads((REPO / "docs" / "stream-events.schema.json").read_text())


def run_watch(*args: str, onnx_cache: Path) -> subprocess.CompletedProcess[str]:
    env = env_without_dfs(
        DFS_STREAMS__REAL_FPS="2",
        DFS_STREAMS__WATCH_FPS="4",
        DFS_MODEL__ONNX_CACHE_DIR=str(onnx_cache),
        OMP_WAIT_POLICY="PASSIVE",
    )
    return subprocess.run(
        [str(EXECUTABLE), "watch", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_watch_prints_the_events_of_a_file_played_live(fixtures: Path, tmp_path: Path) -> None:
    import jsonschema

    result = run_watch(
        str(fixtures / "fake_dfdc_2s.mp4"), "--json", "--fail-on-alert", onnx_cache=tmp_path
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    for event in events:
        jsonschema.validate(event, SCHEMA)
    types = [e["type"] for e in events]
    assert types[0] == "started" and types[-1] == "ended" and "scores" not in types
    assert events[-1]["reason"] == "source ended"
    assert "alert" in types  # the DFDC fake alerts...
    assert result.returncode == 5, result.stderr  # ...so --fail-on-alert fails


def test_watch_reads_events_as_lines_and_refuses_missing_files(
    fixtures: Path, tmp_path: Path
) -> None:
    readable = run_watch(str(fixtures / "real_hdtf_2s.mp4"), "--scores", onnx_cache=tmp_path)
    assert readable.returncode == 0, readable.stderr
    lines = readable.stdout.splitlines()
    assert "started" in lines[0] and "ended" in lines[-1] and "source ended" in lines[-1]
    assert any(" scores " in line for line in lines)
    missing = run_watch(str(tmp_path / "nothing.mp4"), onnx_cache=tmp_path)
    assert missing.returncode == 4 and "no such file" in missing.stderr  # as analyze's


def test_watch_hears_the_voice_of_an_audio_file(fixtures: Path, tmp_path: Path) -> None:
    import jsonschema

    speech = fixtures / "audio" / "real_dc_tts_LJ001-0010.flac"  # 5 s: windows at 0 and 1.5 s
    result = run_watch(str(speech), "--json", onnx_cache=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    for event in events:
        jsonschema.validate(event, SCHEMA)
    heard = [event for event in events if event["type"] == "voice"]
    assert [event["time_s"] for event in heard] == [0.0, 1.5]
    assert all(event["end_s"] - event["time_s"] == 3.0 for event in heard)
    assert events[-1]["type"] == "ended" and events[-1]["reason"] == "source ended"
