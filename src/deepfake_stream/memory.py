"""glibc's allocator, tuned for an analysis service: freed buffers are reused within an analysis
and handed back to the system after it.

By default glibc maps every block over ~128 KB-32 MB afresh and unmaps it when freed, so each of
the classifier's and the detector's layer buffers costs page faults to zero it again: ONNX
Runtime without its own arena ran 1.8x slower for that alone. With the thresholds below such
blocks stay in the heap and are reused, and `release_free_memory` (after every analysis)
returns what is free, so the resident size does not creep up between analyses.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Blocks up to this size come from the heap (reused) rather than their own mapping.
HEAP_BLOCKS_UP_TO = 256 * 2**20
# Free memory at the top of the heap is kept up to this much between allocations...
KEEP_FREE_UP_TO = 2**30
# ...and per-thread heaps are capped: each thread (decoder, detector, classifier, voice) with
# a heap of its own holds its own high-water mark.
MALLOC_ARENAS = 4


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune or release
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


@functools.cache
def tune_allocator() -> bool:
    """Set the thresholds above, once per process (before the models allocate, ideally);
    False where the allocator is not glibc's."""
    if _LIBC is None:
        return False
    _LIBC.mallopt(M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO)
    _LIBC.mallopt(M_TRIM_THRESHOLD, KEEP_FREE_UP_TO)
    _LIBC.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    return True


def _release() -> Callable[[], None]:
    libc = _LIBC
    if libc is None:
        return lambda: None
    return lambda: libc.malloc_trim(0)


# Hands free heap memory back to the system; called after each analysis.
release_free_memory = _release()
