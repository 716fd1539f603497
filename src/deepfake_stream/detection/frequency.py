"""The frequency branch: a small CNN over the face crop's 8x8 block DCT spectrum.

Generators, swappers and upsamplers leave their mark in a face's spectrum rather than in its
shapes: a face rendered at 128 px and enlarged has too little energy in the upper
coefficients, transposed convolutions leave periodic peaks, and a pasted face carries other
detail than the frame around it. The crop's brightness is cut into 8x8 blocks on the JPEG
grid (every crop ends with a JPEG encode, so these are the coefficients that survived it),
each block becomes its 64 DCT-II coefficients, and a small CNN reads the resulting 64-channel
map: which frequencies are where, so the face/background boundary is seen as well.

The DCT is a fixed convolution, so the whole branch is one torch module: it trains like the
face branch, is saved and verified like it, and exports to ONNX.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .crop import CropSpec
from .registry import Detector, DetectorSpec, register_detector

DCT_BLOCK = 8
# BT.601 luma, as JPEG computes it.
LUMA = (0.299, 0.587, 0.114)
# Channels of the CNN's stages after the DCT (28x28, 14x14 and 7x7 maps for a 224 crop).
STAGE_CHANNELS = (64, 128, 192)
DROPOUT = 0.3
# Same contract as the face branch, so one crop serves both branches.
FREQUENCY_CROP = CropSpec(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def dct_basis(block: int = DCT_BLOCK) -> torch.Tensor:
    """The orthonormal 2-D DCT-II basis as conv weights (block * block, 1, block, block)."""
    n = torch.arange(block, dtype=torch.float64)
    k = n.view(-1, 1)
    basis = torch.cos(math.pi * (2 * n + 1) * k / (2 * block))  # (k, n)
    basis[0] *= 1 / math.sqrt(2)
    basis *= math.sqrt(2 / block)
    weights = torch.einsum("ux,vy->uvyx", basis, basis).reshape(block * block, 1, block, block)
    return weights.float()


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.SiLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.SiLU(inplace=True),
    )


class FrequencyDetector(Detector):
    """Normalised RGB crops (B, 3, S, S) -> fake logits (B,), from block-DCT spectra."""

    dct: torch.Tensor
    luma: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, spec: DetectorSpec) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("dct", dct_basis(), persistent=False)
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "mean", torch.tensor(spec.crop.mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(spec.crop.std).view(1, 3, 1, 1), persistent=False)
        self.input_norm = nn.BatchNorm2d(DCT_BLOCK * DCT_BLOCK)
        stages: list[nn.Module] = []
        channels = DCT_BLOCK * DCT_BLOCK
        for index, width in enumerate(STAGE_CHANNELS):
            if index:
                stages.append(nn.MaxPool2d(2))
            stages.append(_stage(channels, width))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc = nn.Linear(channels, 1)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 64, S/8, S/8): signed log magnitudes of each block's DCT coefficients."""
        pixels = (x * self.std + self.mean) * 255.0
        brightness = (pixels * self.luma).sum(dim=1, keepdim=True) - 128.0
        coefficients = nn.functional.conv2d(brightness, self.dct, stride=DCT_BLOCK)
        return torch.sign(coefficients) * torch.log1p(coefficients.abs())

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stages(self.input_norm(self.spectrum(x)))
        embedding = self.pool(features).flatten(1)
        logits: torch.Tensor = self.fc(self.dropout(embedding)).squeeze(1)
        return logits, embedding


def _build_frequency(spec: DetectorSpec, imagenet_backbone: bool) -> Detector:
    del imagenet_backbone  # trained from scratch: no ImageNet model reads DCT spectra
    return FrequencyDetector(spec)


register_detector(DetectorSpec(name="dct_cnn", crop=FREQUENCY_CROP, factory=_build_frequency))
