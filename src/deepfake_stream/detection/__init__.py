"""Detection: faces and tracks, the model branches, their weights, fusion and the engines."""

# Importing the branch modules registers their architectures.
from . import frequency, model

__all__ = ["frequency", "model"]
