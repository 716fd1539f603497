"""DeepfakeStream: tells whether an image or a video shows a manipulated face."""

import os

# Set before torch loads its OpenMP runtime: busy-waiting threads stall badly when another
# process (or the decoder) holds a core on a small machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
