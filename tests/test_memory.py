from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from deepfake_stream.memory import _LIBC

# Run in a fresh interpreter: the tuning is per process and this test reads its RSS.
SCRIPT = textwrap.dedent(
    """
    import numpy as np, psutil
    from deepfake_stream.memory import release_free_memory, tune_allocator

    def rss_mb():
        return psutil.Process().memory_info().rss / 2**20

    assert tune_allocator() and tune_allocator()  # once, then a no-op
    block = np.ones(96 * 2**20, np.uint8)  # 96 MB, touched
    with_block = rss_mb()
    del block
    after_free = rss_mb()
    reused = np.ones(96 * 2**20, np.uint8)
    with_reused = rss_mb()
    del reused
    release_free_memory()
    released = rss_mb()
    print(with_block, after_free, with_reused, released)
    """
)


@pytest.mark.skipif(_LIBC is None, reason="glibc's allocator only")
def test_freed_blocks_stay_for_reuse_until_released() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    with_block, after_free, with_reused, released = map(float, out.split())
    assert after_free > with_block - 16  # kept in the heap instead of unmapped
    assert with_reused < with_block + 16  # the same pages served the next block
    assert released < with_block - 64  # handed back once the analysis is over
