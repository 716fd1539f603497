"""A wall-clock limit on one analysis. Threads cannot be killed, so the work checks it where it
can stop cleanly: per packet and frame while decoding, between detection batches and stages."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .errors import AnalysisTimeoutError


@dataclass(frozen=True)
class Deadline:
    limit_s: float  # as configured (limits.max_analysis_s)
    expires_at: float  # on time.monotonic()'s clock

    @classmethod
    def starting_now(cls, limit_s: float) -> Deadline:
        return cls(limit_s, time.monotonic() + limit_s)

    def check(self, stage: str) -> None:
        """AnalysisTimeoutError once the limit has passed; `stage` says where it stopped."""
        if time.monotonic() > self.expires_at:
            raise AnalysisTimeoutError(
                f"the analysis ran past its time limit of {self.limit_s:g} s "
                f"(stopped while {stage})"
            )
