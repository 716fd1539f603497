"""The timm-style registry of detectors: crops in, fake logits out. Each architecture is a
DetectorSpec: its name (used in configs and manifests), its crop contract (crop.py: input size,
normalisation and the default geometry of an untrained model), its factory and where its
ImageNet backbone weights come from. The branches
register themselves (model.py: the face branch; frequency.py: the frequency branch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from .crop import CropSpec

# The modules whose import registers the built-in branches.
BUILTIN_BRANCH_MODULES = ("model", "frequency")
# Seed for the head when no trained weights are loaded, so untrained runs are reproducible.
UNTRAINED_HEAD_SEED = 0


class Detector(nn.Module):
    """Normalised RGB crops (B, 3, S, S) -> fake logits (B,), under its spec's contract; and
    with forward_with_embedding, the pooled features the logit is read from (B, E), which
    tell how far a face is from anything seen in training."""

    spec: DetectorSpec

    @property
    def crop(self) -> CropSpec:
        return self.spec.crop

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_embedding(x)[0]


@dataclass(frozen=True)
class DetectorSpec:
    name: str  # registry name, used in configs and manifests
    crop: CropSpec  # the contract crops must meet; trained weights bring their own geometry
    # Builds the module; the flag asks for ImageNet backbone weights where the spec has them.
    factory: Callable[[DetectorSpec, bool], Detector]
    backbone: str | None = None  # timm model name, for backbone-based detectors
    imagenet_weights: Callable[[], Path] | None = None  # local ImageNet weights, if any offline


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(spec: DetectorSpec) -> DetectorSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"detector {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _register_builtin_branches() -> None:
    """The built-in branches register when their modules are imported, and they import this
    one: they are loaded by name on the first lookup, so that nothing here imports them."""
    for module in BUILTIN_BRANCH_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def list_detectors() -> list[str]:
    _register_builtin_branches()
    return sorted(_REGISTRY)


def get_spec(name: str) -> DetectorSpec:
    _register_builtin_branches()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown detector architecture {name!r}; known: {', '.join(list_detectors())}"
        ) from None


def create_detector(name: str, imagenet_backbone: bool = True) -> Detector:
    """Build a registered detector. With imagenet_backbone, a backbone starts from ImageNet
    weights on local disk; the rest is seeded so that an untrained model is reproducible."""
    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_HEAD_SEED)
        detector = spec.factory(spec, imagenet_backbone)
    return detector.eval()
