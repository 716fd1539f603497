"""One exit-code table for every command (cli/common.py): the same error gives the same code
whichever command meets it, and --help prints the table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfake_stream.cli import main
from deepfake_stream.cli.common import (
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_USAGE,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [name for name in os.environ if name.startswith("DFS_")]:
        monkeypatch.delenv(name)
    yield


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "{fixtures}/photo.jpg"],
        ["watch", "{fixtures}/fake_dfdc_2s.mp4"],
        ["bench", "--media", "{fixtures}"],
        ["info"],
        ["export-onnx", "{tmp}/model.onnx"],
    ],
    ids=lambda argv: argv[0],
)
def test_missing_weights_exit_3_from_every_command(
    argv: list[str],
    fixtures: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DFS_MODEL__WEIGHTS", str(tmp_path / "gone.json"))
    args = [arg.format(fixtures=fixtures, tmp=tmp_path) for arg in argv]
    assert main(args) == EXIT_CONFIG
    assert "weights_error: weights manifest not found" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["analyze", "watch"])
def test_a_missing_input_exits_4_from_every_command(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, str(tmp_path / "nope.mp4")]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert "no such file" in captured.out + captured.err


def test_invalid_parameters_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "gopher://example.com/live"]) == EXIT_USAGE
    assert "invalid_parameters: unsupported stream url" in capsys.readouterr().err


def test_help_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(f"{code} {meaning}" in out for code, meaning in EXIT_CODES.items())


def test_missing_voice_weights_exit_3(
    fixtures: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DFS_VOICE__WEIGHTS", str(tmp_path / "gone.json"))
    assert main(["analyze", str(fixtures / "audio" / "speech_fsdd.wav")]) == EXIT_CONFIG
    assert "weights_error: voice weights manifest not found" in capsys.readouterr().err


def test_analyze_judges_an_audio_file_on_its_voice(
    fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["analyze", "--json", str(fixtures / "audio" / "speech_fsdd.opus")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["media"]["type"] == "audio" and result["audio"]["codec"] == "opus"
    assert result["verdict"] == result["audio"]["verdict"]
