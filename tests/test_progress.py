"""An analysis' progress as the real pipeline reports it: every stage moves while it runs, and
the fold gives one stage and a fraction that never goes back."""

from __future__ import annotations

from pathlib import Path

from deepfake_stream.config import AnalysisOptions
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.progress import STAGE_SHARES, ProgressFold


def test_each_stage_is_reported_as_it_moves_and_folds_into_one_rising_fraction(
    analyzer: Analyzer, fixtures: Path
) -> None:
    reports: list[tuple[str, int, int]] = []
    options = AnalysisOptions(segments=4, frames_per_segment=4)  # 16 frames: 4 detect batches
    analyzer.analyze(
        fixtures / "two_people_2s.mp4",
        options,
        on_progress=lambda stage, done, total: reports.append((stage, done, total)),
    )
    for stage in STAGE_SHARES:
        moves = [(done, total) for s, done, total in reports if s == stage]
        # Reported inside the stage, not only once it is over.
        assert any(0 < done < total for done, total in moves), (stage, moves)
        assert moves[-1][0] == moves[-1][1]  # and finished
    fold = ProgressFold()
    folded = [fold.update(*report) for report in reports]
    fractions = [fraction for _, fraction in folded]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(set(fractions)) >= 8  # moving steadily, not 0 -> 0.4 -> 1.0
    stages = [stage for stage, _ in folded]
    # The stage the analysis waits on goes forward only: decode, detect, classify.
    order = [next(i for i, s in enumerate(STAGE_SHARES) if s == stage) for stage in stages]
    assert order == sorted(order) and stages[0] == "decode" and stages[-1] == "classify"


def test_the_fold_never_goes_back_when_more_crops_arrive() -> None:
    fold = ProgressFold()
    fold.update("decode", 4, 4)
    fold.update("classify", 4, 4)  # every crop so far scored
    _, before = fold.update("detect", 2, 4)
    stage, after = fold.update("classify", 4, 8)  # more crops came from detection
    assert stage == "detect" and after == before
