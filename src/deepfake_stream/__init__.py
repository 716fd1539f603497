"""DeepfakeStream: tells whether an image or a video shows a manipulated face."""

import ctypes
import os
import sys

# Set before torch loads its OpenMP runtime: busy-waiting threads stall badly when another
# process (or the decoder) holds a core on a small machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GLIBC_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
if sys.platform == "linux":
    # Decoder, OpenMP and ONNX Runtime threads each get a glibc heap by default, and freed
    # frame-sized buffers stay spread over them: peak RSS crept from 1.4 to 1.65 GB over the
    # benchmark. Two heaps keep it near 1.3 GB for ~5% more time per video.
    try:
        ctypes.CDLL("libc.so.6").mallopt(GLIBC_M_ARENA_MAX, MALLOC_ARENAS)
    except OSError:  # not glibc (e.g. musl): nothing to tune
        pass

__version__ = "0.1.0"
