"""The frequency branch: spectral features of a face crop and a small classifier on them.

Generators, swappers and upsamplers leave their mark in a face's spectrum rather than in its
shapes: a face rendered at 128 px and enlarged has too little energy in the upper bands, a
transposed convolution leaves periodic peaks, and a pasted face carries different detail
from the frame around it. The features are

- the radially averaged log power spectrum of the face's centre and of the whole crop, each
  relative to its own low-frequency level (so brightness and contrast do not count);
- the energy of three band-pass (difference-of-Gaussians) bands inside the face, on its
  boundary and in the background, as log ratios to the background's: the face/background
  boundary that every blend leaves.

The classifier is a standardiser and a small multilayer perceptron (ReLU), kept as plain
arrays in a safetensors file: nothing is unpickled, and inference is a few matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.ndimage import gaussian_filter

# Radial bins of the spectra, from DC to the Nyquist frequency.
SPECTRUM_BINS = 24
# The face's centre: the middle of the crop, this share of its side (the crops are cut
# around the face, so the centre is skin, eyes and mouth, never background).
CENTRE_SHARE = 0.55
# Difference-of-Gaussians band edges, in pixels of the crop (finest band first).
BAND_SIGMAS = (0.6, 1.2, 2.4, 4.8)
# Regions as radii of the crop's inscribed circle, measured from its centre: the face inside
# the first, its boundary between the two, the background beyond the second.
FACE_RADIUS = 0.55
BOUNDARY_RADIUS = 0.85
# Spectra below this power are floored before the log (an all-flat crop stays finite).
POWER_FLOOR = 1e-8
FEATURE_COUNT = 2 * (SPECTRUM_BINS - 1) + 2 * (len(BAND_SIGMAS) - 1)
# BT.601 luma: the spectra are of brightness, where compression keeps the most detail.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@cache
def _radial_bins(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """For an rfft2 of (height, width): each frequency's bin, and the count in each bin."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.sqrt(fy**2 + fx**2) / 0.5  # 1.0 at the Nyquist frequency on an axis
    bins = np.minimum((radius * SPECTRUM_BINS).astype(np.int64), SPECTRUM_BINS - 1)
    counts = np.bincount(bins.ravel(), minlength=SPECTRUM_BINS)
    return bins.ravel(), counts


@cache
def _window(height: int, width: int) -> np.ndarray:
    return np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)


def radial_log_spectrum(gray: np.ndarray) -> np.ndarray:
    """(N, H, W) brightness -> (N, SPECTRUM_BINS - 1): log10 mean power per radial bin,
    minus the lowest bin's (the spectrum's shape, not its level)."""
    n, height, width = gray.shape
    centred = gray - gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(centred * _window(height, width))) ** 2
    bins, counts = _radial_bins(height, width)
    flat = power.reshape(n, -1)
    sums = np.stack([np.bincount(bins, weights=row, minlength=SPECTRUM_BINS) for row in flat])
    logs = np.log10(np.maximum(sums / counts, POWER_FLOOR))
    relative: np.ndarray = logs[:, 1:] - logs[:, :1]
    return relative


@cache
def _region_masks(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centre = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    radius = np.hypot(yy - centre, xx - centre) / (size / 2)
    face = radius < FACE_RADIUS
    boundary = (radius >= FACE_RADIUS) & (radius < BOUNDARY_RADIUS)
    return face, boundary, radius >= BOUNDARY_RADIUS


def band_energy_ratios(gray: np.ndarray) -> np.ndarray:
    """(N, S, S) brightness -> (N, 2 * bands): per band, log10 of the face's and of the
    boundary's mean energy over the background's."""
    face, boundary, background = _region_masks(gray.shape[1])
    blurred = [gaussian_filter(gray, sigma=(0, s, s), mode="reflect") for s in BAND_SIGMAS]
    features = []
    for finer, coarser in zip(blurred[:-1], blurred[1:], strict=True):
        energy = (finer - coarser) ** 2
        outside = energy[:, background].mean(axis=1) + POWER_FLOOR
        features.append(np.log10(energy[:, face].mean(axis=1) / outside + POWER_FLOOR))
        features.append(np.log10(energy[:, boundary].mean(axis=1) / outside + POWER_FLOOR))
    return np.stack(features, axis=1)


def frequency_features(crops: np.ndarray) -> np.ndarray:
    """uint8 crops (N, S, S, 3) -> float32 features (N, FEATURE_COUNT)."""
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.shape[1] != crops.shape[2]:
        raise ValueError(f"crops must be (N, S, S, 3), got {crops.shape}")
    if len(crops) == 0:
        return np.zeros((0, FEATURE_COUNT), np.float32)
    gray = crops.astype(np.float32) @ LUMA
    size = crops.shape[1]
    side = round(size * CENTRE_SHARE)
    start = (size - side) // 2
    centre = gray[:, start : start + side, start : start + side]
    features = np.concatenate(
        [radial_log_spectrum(centre), radial_log_spectrum(gray), band_energy_ratios(gray)],
        axis=1,
    )
    return features.astype(np.float32)


@dataclass(frozen=True)
class FrequencyClassifier:
    """Standardise, then dense layers with ReLU between them; the last gives one logit."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    weights: tuple[np.ndarray, ...]  # (F, H1), (H1, H2), ..., (Hk, 1)
    biases: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ValueError("one bias per layer, at least one layer")
        if self.weights[0].shape[0] != self.mean.shape[0] or self.weights[-1].shape[1] != 1:
            raise ValueError("layer shapes do not chain from the features to one logit")

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (features.astype(np.float64) - self.mean) / self.scale
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ weight + bias
            if index < len(self.weights) - 1:
                x = np.maximum(x, 0.0)
        return np.asarray(x[:, 0], dtype=np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        """Named arrays for a safetensors file."""
        named = {"mean": self.mean, "scale": self.scale}
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            named[f"layer{index}.weight"] = weight
            named[f"layer{index}.bias"] = bias
        return {key: np.ascontiguousarray(value, np.float64) for key, value in named.items()}

    @classmethod
    def from_tensors(cls, named: dict[str, np.ndarray]) -> FrequencyClassifier:
        layers = sum(1 for key in named if key.endswith(".weight"))
        return cls(
            mean=named["mean"],
            scale=named["scale"],
            weights=tuple(named[f"layer{i}.weight"] for i in range(layers)),
            biases=tuple(named[f"layer{i}.bias"] for i in range(layers)),
        )
