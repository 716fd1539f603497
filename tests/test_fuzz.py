"""The fuzzing harness, CI tier: mutated copies of every committed fixture, the structured edge
cases and the minimised crashers of earlier runs go through load_media and the whole
Analyzer.analyze. Each ends in a result or in a 4xx error with its own code, within the time
limit, leaving no file behind. Seeded and bounded (Hypothesis, derandomised): the same few
hundred cases on every run. Long runs: scripts/fuzz_media.py; HTTP: tests/api/test_fuzz_http.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from deepfake_stream.config import AnalysisOptions, Settings
from deepfake_stream.deadline import Deadline
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer
from support.contract import outcome_of, within_limit
from support.edge_cases import CASES
from support.mutations import FIXTURES, Mutation, mutations
from support.settings import with_time_limit

# Damaged EXIF is what these inputs are: Pillow's warnings about it are expected.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

TIME_LIMIT_S = 30.0
# Fewer frames than the default 8 x 4: the same code paths at an eighth of the detection work.
FEW_FRAMES = AnalysisOptions(segments=2, frames_per_segment=2)
SEEDED = hypothesis_settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The outcome the edge cases that must fail fail with (the others may end either way).
EDGE_CASE_CODES = {
    "video_4608x2592.mkv": "too_many_pixels",
    "png_zero_width.png": "corrupt_media",
    "png_200000x200000.png": "too_many_pixels",
    "bmp_100000x100000.bmp": "too_many_pixels",
    "no_decoder.mkv": "unsupported_media_type",
    "no_clusters.mkv": "corrupt_media",
    "one_frame_per_1e7_s.mkv": "duration_too_long",
    "animated.gif": "unsupported_media_type",
    "jpeg_header_over_mp4.jpg": "corrupt_media",
    "png_signature_over_webm.png": "corrupt_media",
    "webp_riff_over_avi.webp": "corrupt_media",
    "heic_brand.mp4": "unsupported_media_type",
    "empty": "empty_media",
    "one_byte": "unsupported_media_type",
    "ftyp_only.mp4": "corrupt_media",
}
# Crashers that earlier runs found, minimised (tests/fixtures/fuzz/README.md), and the 4xx
# each must now end in.
CRASHER_CODES = {
    "codec_context_none.mov": "unsupported_media_type",
    "codec_context_none.avi": "unsupported_media_type",
    "rewind_eperm.mov": "corrupt_media",
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where each case's file lives while it runs; empty again after every case."""
    folder = tmp_path_factory.mktemp("fuzz")
    yield folder
    assert not list(folder.iterdir())


@pytest.fixture(scope="module")
def limited(analyzer: Analyzer) -> Analyzer:
    return with_time_limit(analyzer, TIME_LIMIT_S)


def _case(scratch: Path, name: str, data: bytes) -> Path:
    path = scratch / name.replace("/", "_")[:200]
    path.write_bytes(data)
    return path


@hypothesis_settings(SEEDED, max_examples=400)
@given(mutation=mutations())
def test_mutated_fixtures_load_or_fail_with_a_4xx_code(
    mutation: Mutation, settings: Settings, scratch: Path
) -> None:
    path = _case(scratch, mutation.name, mutation.apply())
    try:
        deadline = Deadline.starting_now(TIME_LIMIT_S)
        outcome = outcome_of(
            lambda: load_media(path, settings.limits, settings.sampling, deadline=deadline)
        )
    finally:
        path.unlink()
    assert within_limit(outcome, TIME_LIMIT_S), outcome


@hypothesis_settings(SEEDED, max_examples=40)
@given(mutation=mutations())
def test_mutated_fixtures_end_in_a_verdict_or_a_4xx_code(
    mutation: Mutation, limited: Analyzer, scratch: Path
) -> None:
    path = _case(scratch, mutation.name, mutation.apply())
    try:
        outcome = outcome_of(lambda: limited.analyze(path, FEW_FRAMES))
    finally:
        path.unlink()
    assert within_limit(outcome, TIME_LIMIT_S), outcome


@pytest.mark.parametrize("name", list(CASES))
def test_edge_cases_end_in_a_verdict_or_a_4xx_code(
    name: str, limited: Analyzer, scratch: Path
) -> None:
    path = _case(scratch, name, CASES[name]())
    try:
        outcome = outcome_of(lambda: limited.analyze(path, FEW_FRAMES))
    finally:
        path.unlink()
    assert within_limit(outcome, TIME_LIMIT_S), outcome
    assert outcome.code == EDGE_CASE_CODES.get(name, outcome.code)


@pytest.mark.parametrize(("name", "code"), list(CRASHER_CODES.items()))
def test_earlier_crashers_end_in_their_4xx_code(name: str, code: str, limited: Analyzer) -> None:
    outcome = outcome_of(lambda: limited.analyze(FIXTURES / "fuzz" / name, FEW_FRAMES))
    assert outcome.code == code
