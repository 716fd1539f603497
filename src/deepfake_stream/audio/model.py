"""The voice models: windows of speech features (features.py) in, spoof logits out. A small
registry, as for faces (detection/registry.py): each architecture is named in configs and
manifests and carries its FeatureSpec.

Both architectures are one compact VGG-style network (BandCnn) over a log spectrogram, pooled
over frequency and then over time by mean and standard deviation (the statistics pooling of
speaker models): about 0.3 M parameters, a 3 s window in a few milliseconds on one CPU core.
`logmel-cnn` reads 64 mel bands; `loglinear-cnn` reads 96 bands evenly spaced from 0 to 8 kHz,
which gave it the upper half of the spectrum in as much detail as the lower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .features import FeatureSpec

# Seed for an untrained model, so that untrained runs are reproducible.
UNTRAINED_SEED = 0


class VoiceModel(nn.Module):
    """(B, bands, frames) features -> (B,) spoof logits, under its spec's FeatureSpec."""

    spec: VoiceModelSpec


@dataclass(frozen=True)
class VoiceModelSpec:
    name: str
    features: FeatureSpec
    factory: Callable[[VoiceModelSpec], VoiceModel]


def _conv_block(inputs: int, outputs: int, convolutions: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(convolutions):
        layers += [
            nn.Conv2d(inputs if index == 0 else outputs, outputs, 3, padding=1, bias=False),
            nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class BandCnn(VoiceModel):
    WIDTHS = (16, 32, 64, 128)
    DROPOUT = 0.3

    def __init__(self, spec: VoiceModelSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = [nn.BatchNorm2d(1)]
        inputs = 1
        for index, width in enumerate(self.WIDTHS):
            # One convolution at full resolution, where it costs most; two further down.
            layers.append(_conv_block(inputs, width, 1 if index == 0 else 2))
            if index < len(self.WIDTHS) - 1:
                layers.append(nn.MaxPool2d(2))
            inputs = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(self.DROPOUT), nn.Linear(2 * inputs, 1))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The pooled (B, 2 * width) statistics the logit is read from."""
        maps = self.body(features.unsqueeze(1)).mean(dim=2)  # over frequency: (B, C, T)
        return torch.cat([maps.mean(dim=2), maps.std(dim=2)], dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embed(features)).squeeze(1)
        return logits


_REGISTRY: dict[str, VoiceModelSpec] = {}


def register_voice_model(spec: VoiceModelSpec) -> VoiceModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"voice model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


LOGMEL_CNN = register_voice_model(VoiceModelSpec("logmel-cnn", FeatureSpec(), BandCnn))
LOGLINEAR_CNN = register_voice_model(
    VoiceModelSpec(
        "loglinear-cnn", FeatureSpec(scale="linear", bands=96, f_min=0.0, f_max=8000.0), BandCnn
    )
)


def list_voice_models() -> list[str]:
    return sorted(_REGISTRY)


def get_voice_spec(name: str) -> VoiceModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown voice model {name!r}; known: {', '.join(list_voice_models())}"
        ) from None


def create_voice_model(name: str) -> VoiceModel:
    spec = get_voice_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        model = spec.factory(spec)
    return model.eval()
