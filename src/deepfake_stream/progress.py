"""An analysis' progress. Its stages overlap (frames are detected as they are decoded, crops
classified as they are detected), and each is reported as it moves (pipeline.StageProgress:
stage, done, total); folded here into the stage the analysis waits on and one fraction, for a
job's status and the command line's progress bar."""

from __future__ import annotations

import threading

# Stages in the order an analysis finishes them, and each one's share of its time (about that
# of a 1080p video on 2 cores).
STAGE_SHARES = {"decode": 0.4, "detect": 0.4, "classify": 0.2}


class ProgressFold:
    """The latest stage and fraction (0..1) of one analysis; safe to update from any thread."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.fraction = 0.0
        self._done = dict.fromkeys(STAGE_SHARES, 0.0)
        self._lock = threading.Lock()

    def update(self, stage: str, done: int, total: int) -> tuple[str | None, float]:
        with self._lock:
            self._done[stage] = min(1.0, done / total) if total else 1.0
            self.stage = next((s for s, f in self._done.items() if f < 1.0), "classify")
            moved = sum(STAGE_SHARES[s] * f for s, f in self._done.items())
            # Crops keep arriving for scoring while detection runs: never report going back.
            self.fraction = max(self.fraction, round(moved, 3))
            return self.stage, self.fraction
