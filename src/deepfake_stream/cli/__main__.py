"""python -m deepfake_stream.cli: the deepfake-stream command."""

import sys

from . import main

sys.exit(main())
