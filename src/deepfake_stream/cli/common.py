"""What every command shares: exit codes and the one-shot Analyzer, folder check and table."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import (
    ConfigError,
    DeepfakeStreamError,
    InvalidParametersError,
    MediaError,
    WeightsError,
)
from ..progress import ProgressFold

if TYPE_CHECKING:
    from ..pipeline import Analyzer

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_FAKE = 5
# The one table of exit codes, for every command (the --help epilog and README print it).
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "unexpected internal error",
    EXIT_USAGE: "usage error (bad arguments or parameters)",
    EXIT_CONFIG: "configuration or model error (bad config, missing device or weights)",
    EXIT_INPUT: "an input could not be analysed (missing, corrupt, unsupported, too large)",
    EXIT_FAKE: "--fail-on-fake or --fail-on-alert was given and a fake or alert was found",
}


def exit_code_for(error: DeepfakeStreamError) -> int:
    """The exit code of an error, whichever command raised it."""
    if isinstance(error, ConfigError | WeightsError):
        return EXIT_CONFIG
    if isinstance(error, MediaError):
        return EXIT_INPUT
    if isinstance(error, InvalidParametersError):
        return EXIT_USAGE
    return EXIT_INTERNAL


def is_folder(path: Path) -> bool:
    if path.is_dir():
        return True
    print(f"deepfake-stream: not a folder: {path}", file=sys.stderr)
    return False


def quiet_analyzer(settings: Settings) -> Analyzer:
    """The Analyzer for one-shot commands, whose output should not drown in INFO logs."""
    from ..pipeline import Analyzer

    logging.getLogger().setLevel(logging.WARNING)
    return Analyzer(settings)


def progress_bar(name: str) -> Callable[[str, int, int], None]:
    from tqdm import tqdm

    bar = tqdm(total=100, desc=name, unit="%", leave=False, file=sys.stderr, mininterval=0.2)
    fold = ProgressFold()

    def update(stage: str, done: int, total: int) -> None:
        waiting_on, fraction = fold.update(stage, done, total)
        bar.set_postfix_str(waiting_on or "")
        bar.n = round(fraction * 100)
        bar.refresh()
        if fraction >= 1.0:
            bar.close()

    return update


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)
            ).rstrip()
        )


@contextmanager
def counting_bar(
    name: str, unit: str, hidden: bool = False
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the (done, total) callback that moves it."""
    from tqdm import tqdm

    with tqdm(desc=name, unit=unit, file=sys.stderr, disable=hidden) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield progress
