"""Self-blended images: pseudo-fakes made from one real face, no second identity needed.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images" (CVPR 2022),
written from the paper's description. A real crop is copied twice; the source copy is
slightly recoloured, re-filtered and misaligned, then pasted over the target copy through a
soft mask shaped like the face. The result carries what face swaps leave behind (a blending
boundary, a colour and sharpness mismatch, a slight misalignment) with the identity and the
background unchanged, so a classifier trained on it must look at those traces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .augment import random_colour

# Landmark rows, in MTCNN's order.
LEFT_EYE, RIGHT_EYE, NOSE, MOUTH_LEFT, MOUTH_RIGHT = range(5)
# Sharpening uses Pillow's unsharp mask with this radius (pixels) and no threshold.
SHARPEN_RADIUS = 2.0
# Vertices of the ellipse drawn around each landmark for the mask outline: a smooth enough hull.
OUTLINE_POINTS_PER_LANDMARK = 16


@dataclass(frozen=True)
class SBIOptions:
    # Source colour: a pasted face's skin tone and lighting never quite match the frame.
    brightness: float = 0.1  # gain drawn from 1 +- this
    contrast: float = 0.1  # contrast factor drawn from 1 +- this
    saturation: float = 0.1  # saturation factor drawn from 1 +- this
    hue_degrees: float = 5.0  # hue rotation drawn from +- this
    channel_shift: float = 10.0  # per-channel offset drawn from +- this, grey levels
    # Source frequency: a generated face is crisper or softer than the frame around it.
    sharpen_p: float = 0.5  # sharpen; otherwise blur
    sharpen_percent: tuple[int, int] = (50, 150)  # unsharp-mask strength, percent
    blur_radius: tuple[float, float] = (0.5, 1.5)  # Gaussian standard deviation, pixels
    # Source geometry: a pasted face sits slightly off and is slightly mis-sized.
    max_scale_change: float = 0.05  # scale of each axis drawn from 1 +- this
    max_shift: float = 0.03  # shift along each axis drawn from +- this share of the crop side
    # Mask outline, in eye-to-mouth distances: 5 points only cover the inner face.
    forehead: float = 0.6  # the outline reaches this far above the eyes
    chin: float = 0.6  # and this far below the mouth
    cheeks: float = 0.4  # and this far out beyond the eyes and mouth corners
    jaw: float = 0.15  # but only this far out below them: the jaw narrows to the chin
    landmark_jitter: float = 0.25  # each landmark's reach scaled by 1 +- this (uneven outline)
    hull_scale: tuple[float, float] = (0.9, 1.1)  # whole outline's width, height scaled by this
    # Mask edge, in eye-to-mouth distances; blur-then-threshold grows or shrinks the region.
    edge_radius: tuple[float, float] = (0.02, 0.1)  # blur before the threshold
    edge_threshold: tuple[float, float] = (0.3, 0.7)  # below 0.5 dilates, above erodes
    soften_radius: tuple[float, float] = (0.04, 0.16)  # final blur: the width of the soft edge
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # mask peak, one drawn

    def __post_init__(self) -> None:
        if not self.blend_ratios or not all(0.0 < r <= 1.0 for r in self.blend_ratios):
            raise ValueError(f"blend_ratios must be in (0, 1], got {self.blend_ratios}")
        if not 0.0 <= self.max_scale_change < 0.5 or not 0.0 <= self.max_shift < 0.5:
            raise ValueError("max_scale_change and max_shift must be in [0, 0.5)")


def self_blend(
    crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, options: SBIOptions
) -> tuple[np.ndarray, np.ndarray]:
    """A pseudo-fake made from a real uint8 H x W x 3 crop and its 5 landmarks ((5, 2) x, y
    in crop pixels). Returns the blended uint8 crop and the float32 H x W mask in [0, 1]
    (mask * transformed source + (1 - mask) * the crop)."""
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 RGB crop, got {crop.dtype} {crop.shape}")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"expected (5, 2) landmarks, got shape {points.shape}")
    source = _transform_source(crop, rng, options)
    mask = blend_mask(crop.shape[:2], points, rng, options)
    return blend(crop, source, mask), mask


def blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask * source + (1 - mask) * target, rounded to uint8 (mask: float H x W in [0, 1])."""
    mixed = mask[..., None] * source.astype(np.float32)
    mixed += (1.0 - mask[..., None]) * target.astype(np.float32)
    return np.asarray(np.rint(mixed).clip(0, 255).astype(np.uint8))


def _transform_source(
    crop: np.ndarray, rng: np.random.Generator, options: SBIOptions
) -> np.ndarray:
    """The crop recoloured, sharpened or blurred, and slightly scaled and shifted."""
    out = random_colour(
        crop, rng, options.brightness, options.contrast, options.saturation, options.hue_degrees
    )
    shift = rng.uniform(-options.channel_shift, options.channel_shift, size=3)
    out = np.clip(out + np.rint(shift), 0, 255).astype(np.uint8)
    image = Image.fromarray(out)
    if rng.random() < options.sharpen_p:
        percent = int(rng.integers(options.sharpen_percent[0], options.sharpen_percent[1] + 1))
        image = image.filter(ImageFilter.UnsharpMask(SHARPEN_RADIUS, percent, threshold=0))
    else:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*options.blur_radius)))
    scale = 1.0 + rng.uniform(-options.max_scale_change, options.max_scale_change, size=2)
    shift_xy = rng.uniform(-options.max_shift, options.max_shift, size=2) * crop.shape[1::-1]
    return _scale_and_shift(np.asarray(image), scale, shift_xy, options)


def _scale_and_shift(
    image: np.ndarray, scale: np.ndarray, shift: np.ndarray, options: SBIOptions
) -> np.ndarray:
    """The image scaled about its centre by (sx, sy) and moved by (dx, dy) pixels. Edge pixels
    are repeated outward first, so no black border comes in from outside the crop."""
    height, width = image.shape[:2]
    reach = options.max_shift + options.max_scale_change / (1.0 - options.max_scale_change)
    pad = math.ceil(max(height, width) * reach) + 2
    padded = Image.fromarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
    centre_x, centre_y = width / 2, height / 2
    # Pillow's affine maps each output pixel to the input pixel it reads from.
    inverse = (
        1.0 / scale[0],
        0.0,
        centre_x + pad - (centre_x + shift[0]) / scale[0],
        0.0,
        1.0 / scale[1],
        centre_y + pad - (centre_y + shift[1]) / scale[1],
    )
    moved = padded.transform(
        (width, height), Image.Transform.AFFINE, inverse, Image.Resampling.BILINEAR
    )
    return np.asarray(moved)


def blend_mask(
    size: tuple[int, int], landmarks: np.ndarray, rng: np.random.Generator, options: SBIOptions
) -> np.ndarray:
    """The soft float32 (height, width) mask: the face's outline drawn from its landmarks,
    randomly reshaped, grown or shrunk, softened and scaled by a blend ratio."""
    height, width = size
    eyes = (landmarks[LEFT_EYE] + landmarks[RIGHT_EYE]) / 2
    mouth = (landmarks[MOUTH_LEFT] + landmarks[MOUTH_RIGHT]) / 2
    face_length = float(np.hypot(*(mouth - eyes)))  # eye-to-mouth distance, pixels
    if face_length < 1.0:
        raise ValueError("landmarks are degenerate: the eyes and mouth coincide")
    outline = _face_outline(landmarks, eyes, mouth, face_length, rng, options)
    drawn = Image.new("L", (width, height), 0)
    polygon = [(float(x), float(y)) for x, y in _convex_hull(outline)]
    ImageDraw.Draw(drawn).polygon(polygon, fill=255)
    # Blur, then threshold: a smooth dilation (low threshold) or erosion (high threshold).
    spread = drawn.filter(ImageFilter.GaussianBlur(face_length * rng.uniform(*options.edge_radius)))
    level = 255.0 * rng.uniform(*options.edge_threshold)
    region = Image.fromarray(np.where(np.asarray(spread) >= level, 255, 0).astype(np.uint8))
    soft = region.filter(
        ImageFilter.GaussianBlur(face_length * rng.uniform(*options.soften_radius))
    )
    ratio = options.blend_ratios[int(rng.integers(len(options.blend_ratios)))]
    mask: np.ndarray = np.asarray(soft, dtype=np.float32) * np.float32(ratio / 255.0)
    return mask


def _face_outline(
    landmarks: np.ndarray,
    eyes: np.ndarray,
    mouth: np.ndarray,
    face_length: float,
    rng: np.random.Generator,
    options: SBIOptions,
) -> np.ndarray:
    """Points whose convex hull covers the whole face: around each landmark, two half-ellipses
    along the face's own axes, the upper one reaching the forehead and the cheeks, the lower
    one the chin and the jaw (the landmarks' hull grown by a rounded margin). Each landmark's
    reach is randomly sized, and the whole randomly stretched."""
    down = (mouth - eyes) / face_length  # unit vector from the eyes to the mouth
    right = np.array([down[1], -down[0]])  # unit vector from the left eye to the right eye
    centre = (eyes + mouth) / 2
    across, along = (landmarks - centre) @ right, (landmarks - centre) @ down
    angles = np.linspace(0.0, 2 * np.pi, OUTLINE_POINTS_PER_LANDMARK, endpoint=False)
    upper = np.sin(angles) < 0  # the half towards the forehead
    reach_across = np.where(upper, options.cheeks, options.jaw) * np.cos(angles)
    reach_along = np.where(upper, options.forehead, options.chin) * np.sin(angles)
    size = 1.0 + rng.uniform(-options.landmark_jitter, options.landmark_jitter, size=(5, 1))
    across = (across[:, None] + face_length * size * reach_across).ravel()
    along = (along[:, None] + face_length * size * reach_along).ravel()
    stretch = rng.uniform(*options.hull_scale, size=2)
    outline: np.ndarray = (
        centre + np.outer(across * stretch[0], right) + np.outer(along * stretch[1], down)
    )
    return outline


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of 2-D points, counter-clockwise (Andrew's monotone chain)."""
    ordered = sorted({(float(x), float(y)) for x, y in points})
    if len(ordered) < 3:
        return np.array(ordered)

    def turn(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def chain(sequence: list[tuple[float, float]]) -> list[tuple[float, float]]:
        hull: list[tuple[float, float]] = []
        for point in sequence:
            while len(hull) >= 2 and turn(hull[-2], hull[-1], point) <= 0:
                hull.pop()
            hull.append(point)
        return hull

    lower, upper = chain(ordered), chain(ordered[::-1])
    return np.array(lower[:-1] + upper[:-1])
