"""Training and evaluation: data folders, augmentation, synthesised fakes, metrics."""
