"""Training augmentations: the ways real video degrades a face crop, drawn at random.

Every transform takes and returns a uint8 H x W x 3 RGB crop of the same size. `augment`
applies each with its own probability, in the order the world does: the scene first (flip,
colour, occlusion), then the camera (blur, noise), then the delivery (rescaling, JPEG).
All randomness comes from the caller's `np.random.Generator`, so a seed fixes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from PIL import Image, ImageFilter, ImageStat

from ..detection.crop import jpeg

# Filters a video pipeline might rescale with; one is drawn for each resize.
RESAMPLE_FILTERS = (
    Image.Resampling.NEAREST,
    Image.Resampling.BOX,
    Image.Resampling.BILINEAR,
    Image.Resampling.HAMMING,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
)
# BT.601 luma weights: the grey that saturation and contrast pivot around (as in Pillow).
LUMA = np.array([0.299, 0.587, 0.114])
# RGB <-> YIQ: a hue change is a rotation of the (I, Q) chroma plane that keeps luma.
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
# A downscaled crop keeps at least this many pixels per side, whatever the factor.
MIN_DOWNSCALED_SIDE = 8


@dataclass(frozen=True)
class AugmentOptions:
    flip_p: float = 0.5  # mirror left-right: a mirrored face is still a plausible face
    colour_p: float = 0.5  # jitter brightness, contrast, saturation and hue (all together)
    brightness: float = 0.2  # gain drawn from 1 +- this
    contrast: float = 0.2  # contrast factor drawn from 1 +- this
    saturation: float = 0.2  # saturation factor drawn from 1 +- this
    hue_degrees: float = 8.0  # hue rotation drawn from +- this
    cutout_p: float = 0.2  # hide a rectangle: hands, microphones, captions, logos
    cutout_side: tuple[float, float] = (0.1, 0.4)  # its width and height, as shares of the crop's
    cutout_noise_p: float = 0.5  # fill it with noise; otherwise with one random colour
    # Black the crop beyond a random edge or two, as the service's crop is where a face sits
    # near the frame's edge, and as aligned datasets (UTKFace) pad theirs: drawn for every
    # sample alike, so that a black margin says nothing of the label. Off for DFDC recipes.
    frame_edge_p: float = 0.0
    frame_edge_side: tuple[float, float] = (0.03, 0.3)  # the blacked strip, share of the side
    blur_p: float = 0.2  # Gaussian blur: defocus, motion, a denoiser
    blur_radius: tuple[float, float] = (0.3, 1.5)  # its standard deviation, pixels
    noise_p: float = 0.2  # additive Gaussian sensor noise
    noise_sigma: tuple[float, float] = (2.0, 10.0)  # its standard deviation, grey levels
    rescale_p: float = 0.3  # down- then up-scale: low-resolution sources, streaming ladders
    rescale_factor: tuple[float, float] = (0.3, 1.0)  # downscaled side / original side
    jpeg_p: float = 0.5  # re-compress as JPEG: uploads, re-encodes, screenshots
    jpeg_quality: tuple[int, int] = (40, 100)  # quality drawn from this range, both ends included

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be a probability, got {value}")
            if isinstance(value, tuple) and not 0 <= value[0] <= value[1]:
                raise ValueError(f"{field.name} must be a (low, high) range, got {value}")


def augment(crop: np.ndarray, rng: np.random.Generator, options: AugmentOptions) -> np.ndarray:
    """A randomly degraded copy of a uint8 H x W x 3 RGB crop (the input is left as it is)."""
    _check_crop(crop)
    height, width = crop.shape[:2]
    out = crop
    if rng.random() < options.flip_p:
        out = flip(out)
    if rng.random() < options.colour_p:
        out = random_colour(
            out, rng, options.brightness, options.contrast, options.saturation, options.hue_degrees
        )
    if rng.random() < options.cutout_p:
        box_w = max(1, round(width * rng.uniform(*options.cutout_side)))
        box_h = max(1, round(height * rng.uniform(*options.cutout_side)))
        x1 = int(rng.integers(0, width - box_w + 1))
        y1 = int(rng.integers(0, height - box_h + 1))
        if rng.random() < options.cutout_noise_p:
            fill = rng.integers(0, 256, size=(box_h, box_w, 3), dtype=np.uint8)
        else:
            fill = rng.integers(0, 256, size=3, dtype=np.uint8)
        out = cutout(out, (x1, y1, x1 + box_w, y1 + box_h), fill)
    if options.frame_edge_p and rng.random() < options.frame_edge_p:
        out = black_edges(out, rng, options.frame_edge_side)
    if rng.random() < options.blur_p:
        out = gaussian_blur(out, rng.uniform(*options.blur_radius))
    if rng.random() < options.noise_p:
        out = gaussian_noise(out, rng.uniform(*options.noise_sigma), rng)
    if rng.random() < options.rescale_p:
        factor = rng.uniform(*options.rescale_factor)
        down = RESAMPLE_FILTERS[int(rng.integers(len(RESAMPLE_FILTERS)))]
        up = RESAMPLE_FILTERS[int(rng.integers(len(RESAMPLE_FILTERS)))]
        out = rescale(out, factor, down, up)
    if rng.random() < options.jpeg_p:
        low, high = options.jpeg_quality
        out = jpeg(out, int(rng.integers(low, high + 1)))
    return out if out is not crop else crop.copy()


def black_edges(
    crop: np.ndarray, rng: np.random.Generator, side: tuple[float, float]
) -> np.ndarray:
    """The crop with one or two of its sides blacked over a random width."""
    out = crop.copy()
    height, width = out.shape[:2]
    for edge in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
        depth = max(1, round(rng.uniform(*side) * (height if edge < 2 else width)))
        if edge == 0:
            out[:depth] = 0
        elif edge == 1:
            out[-depth:] = 0
        elif edge == 2:
            out[:, :depth] = 0
        else:
            out[:, -depth:] = 0
    return out


def flip(crop: np.ndarray) -> np.ndarray:
    """The crop mirrored left-right."""
    return crop[:, ::-1].copy()


def random_colour(
    crop: np.ndarray,
    rng: np.random.Generator,
    brightness: float,
    contrast: float,
    saturation: float,
    hue_degrees: float,
) -> np.ndarray:
    """jitter_colour with factors drawn from 1 +- each amount (hue from +- hue_degrees)."""
    return jitter_colour(
        crop,
        brightness=1.0 + rng.uniform(-brightness, brightness),
        contrast=1.0 + rng.uniform(-contrast, contrast),
        saturation=1.0 + rng.uniform(-saturation, saturation),
        hue_degrees=rng.uniform(-hue_degrees, hue_degrees),
    )


def jitter_colour(
    crop: np.ndarray, brightness: float, contrast: float, saturation: float, hue_degrees: float
) -> np.ndarray:
    """Brightness, contrast and saturation scaled by the given factors (1 keeps them) and hue
    rotated by hue_degrees, as one affine map of the RGB values (applied by Pillow)."""
    angle = np.deg2rad(hue_degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    rotate_chroma = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    hue = YIQ_TO_RGB @ rotate_chroma @ RGB_TO_YIQ
    to_grey = np.outer(np.ones(3), LUMA)  # RGB -> (Y, Y, Y)
    saturate = saturation * np.eye(3) + (1.0 - saturation) * to_grey
    linear = brightness * saturate @ hue
    # Contrast pivots around the mean luma after the linear part: c * (linear x - m) + m.
    image = Image.fromarray(crop)
    mean_rgb = np.array(ImageStat.Stat(image).mean)
    mean_luma = float(LUMA @ linear @ mean_rgb)
    offset = np.full((3, 1), (1.0 - contrast) * mean_luma)
    affine = np.hstack([contrast * linear, offset])  # rows: R, G, B = (r, g, b, 1) weights
    matrix = tuple(float(value) for value in affine.ravel())
    return np.array(image.convert("RGB", matrix))


def cutout(crop: np.ndarray, box: tuple[int, int, int, int], fill: np.ndarray) -> np.ndarray:
    """The crop with box (x1, y1, x2, y2) filled: fill is one RGB colour or a box-sized patch."""
    x1, y1, x2, y2 = box
    out = crop.copy()
    out[y1:y2, x1:x2] = fill
    return out


def gaussian_blur(crop: np.ndarray, radius: float) -> np.ndarray:
    """The crop blurred by a Gaussian of standard deviation `radius` pixels."""
    return np.array(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(radius)))


def gaussian_noise(crop: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The crop plus independent Gaussian noise of `sigma` grey levels on every value."""
    noise = rng.standard_normal(crop.shape, dtype=np.float32)
    noise *= sigma
    noise += crop
    return _to_uint8(noise)


def rescale(
    crop: np.ndarray, factor: float, down: Image.Resampling, up: Image.Resampling
) -> np.ndarray:
    """The crop shrunk by `factor` with filter `down`, then enlarged back with filter `up`."""
    height, width = crop.shape[:2]
    small_size = (
        max(MIN_DOWNSCALED_SIDE, round(width * factor)),
        max(MIN_DOWNSCALED_SIDE, round(height * factor)),
    )
    small = Image.fromarray(crop).resize(small_size, down)
    return np.array(small.resize((width, height), up))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Float values rounded and clipped to 0..255 grey levels."""
    rounded: np.ndarray = np.rint(values)
    return rounded.clip(0, 255).astype(np.uint8)


def _check_crop(crop: np.ndarray) -> None:
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 RGB crop, got {crop.dtype} {crop.shape}")
