"""Detection: faces and tracks, the model branches, their weights, fusion and the engines.

Nothing is imported here: the job API front imports the light modules (aggregate, fusion,
weights manifests) without loading PyTorch. The registry (registry.py) loads the built-in branches
when it is first asked."""
