from __future__ import annotations

from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image

from deepfake_stream.detection.model import SRMFilter, load_imagenet_backbone
from deepfake_stream.detection.registry import create_detector, get_spec

# ImageNet classes a portrait lands in (jersey, fur coat, hair spray, ...), and "vault" for the
# arcade of noface.jpg.
PORTRAIT_CLASSES = {459, 568, 585, 589, 610, 903}
VAULT_CLASS = 884


def _photo_tensor(fixtures: Path, name: str = "photo.jpg", size: int = 224) -> torch.Tensor:
    image = Image.open(fixtures / name).convert("RGB").resize((size, size))
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255
    return (pixels - 0.5) / 0.5


def _entropy(probs: torch.Tensor) -> float:
    return float(-(probs * probs.clamp_min(1e-12).log()).sum())


def test_imagenet_weights_load_strictly_from_the_wheel_and_recognise_photos(
    fixtures: Path,
) -> None:
    pretrained = load_imagenet_backbone(get_spec("srm_efficientnet_lite0")).eval()
    random_init = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    with torch.inference_mode():
        portrait = pretrained(_photo_tensor(fixtures)).softmax(-1)[0]
        arcade = pretrained(_photo_tensor(fixtures, "noface.jpg")).softmax(-1)[0]
        unknowing = random_init(_photo_tensor(fixtures, "noface.jpg")).softmax(-1)[0]
    assert len(set(portrait.topk(5).indices.tolist()) & PORTRAIT_CLASSES) >= 3
    assert VAULT_CLASS in arcade.topk(5).indices.tolist()
    assert _entropy(arcade) < _entropy(unknowing) - 2.0  # sure of itself, unlike random weights


def test_srm_filters_are_fixed_and_see_noise_not_flat_colour() -> None:
    srm = SRMFilter(get_spec("srm_efficientnet_lite0").crop)
    assert not list(srm.parameters())  # nothing to train
    flat = torch.full((1, 3, 32, 32), 0.2)
    noisy = flat + 0.1 * torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out_flat, out_noisy = srm(flat), srm(noisy)
    assert out_flat.shape == (1, 3, 32, 32)
    assert out_flat[..., 4:-4, 4:-4].abs().max() < 1e-5  # high-pass: flat areas give nothing
    assert out_noisy.abs().mean() > 0.1
    assert out_noisy.abs().max() <= 1.0  # Hardtanh clip, scaled to [-1, 1]


def test_detector_gives_one_logit_per_crop_and_is_reproducible(fixtures: Path) -> None:
    a = create_detector("srm_efficientnet_lite0")
    b = create_detector("srm_efficientnet_lite0")
    x = _photo_tensor(fixtures).repeat(3, 1, 1, 1)
    with torch.inference_mode():
        logits_a, logits_b = a(x), b(x)
    assert logits_a.shape == (3,)
    assert torch.equal(logits_a, logits_b)
    assert a.backbone.conv_stem.in_channels == 6  # RGB + three SRM maps
    trainable = {n.split(".")[0] for n, p in a.named_parameters() if p.requires_grad}
    assert trainable == {"backbone", "head"}
