"""Detection: faces and tracks, the model branches, their weights, fusion and the engines."""
