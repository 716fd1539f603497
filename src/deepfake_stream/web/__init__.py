"""The playground: a static page served at / that talks to this service's own API (nothing
leaves the user's server)."""

from importlib import resources
from pathlib import Path

STATIC_DIR = Path(str(resources.files(__name__) / "static"))
