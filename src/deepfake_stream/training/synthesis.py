"""Fakes synthesised on the fly from real face crops: one function per manipulation family.

No swap, lip-sync or talking-head weights can be had offline, so each family is imitated by
what it leaves in the pixels. Every function takes a real uint8 H x W x 3 crop with its five
MTCNN landmarks ((5, 2) x, y in crop pixels) and the caller's generator, and returns the
fake crop and the float32 H x W mask of where it was changed.

- `swap`: another person's face warped onto this one with a thin-plate spline through the
  landmarks, colour-matched and feather-blended (the graphics FaceSwap family, and the
  blending stage of every learned swapper).
- `mouth`: the lower face re-rendered at low resolution with the mouth opened or closed,
  blended back (Wav2Lip-style lip-sync generates a 96-px lower half).
- `resolution`: the face region rendered at 48-160 px, upsampled with another kernel,
  sometimes sharpened, blended back (128-px swappers, real-time swappers and talking-head
  generators leave this detail mismatch).
- `sbi`: self-blended images (see sbi.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.interpolate import RBFInterpolator
from scipy.ndimage import map_coordinates

from .augment import RESAMPLE_FILTERS
from .sbi import (
    LEFT_EYE,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    RIGHT_EYE,
    SBIOptions,
    blend,
    blend_mask,
    self_blend,
)

# The thin-plate warp is solved on a coarse grid and interpolated: a 224-px crop needs no
# finer field, and solving per pixel costs 50x more.
WARP_GRID = 28
# Points on the crop border (per side) held in place by the warp, so only the face moves.
WARP_BORDER_ANCHORS = 4
# Face masks at full strength: the partial blend ratios of SBI are for its own family.
FULL_STRENGTH_MASK = SBIOptions(blend_ratios=(1.0,))


@dataclass(frozen=True)
class SynthesisOptions:
    # Resolution mismatch: the face region's detail, as the side of a square rendering of the
    # whole crop, pixels (a 128-px swapper's face is about 100 px of a 224-px crop).
    render_side: tuple[int, int] = (48, 160)
    sharpen_p: float = 0.4  # restoration-style sharpening after the upsampling
    # Swap: share of the donor's colour statistics replaced by the target's (1: full match).
    colour_match: tuple[float, float] = (0.6, 1.0)
    swap_low_res_p: float = 0.6  # the swapped face also rendered at low resolution
    landmark_jitter: float = 0.02  # warp target landmarks moved by up to this share of side
    # Lip-sync: how much the mouth opens (+) or closes (-), in mouth widths.
    mouth_open: tuple[float, float] = (-0.15, 0.35)
    mouth_render_side: tuple[int, int] = (40, 112)  # the lower face's rendering, pixels
    mouth_feather: tuple[float, float] = (0.08, 0.2)  # mask edge blur, in crop sides
    sbi: SBIOptions = SBIOptions()


def _soft_face_mask(crop: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(blend_mask(crop.shape[:2], points, rng, FULL_STRENGTH_MASK), np.float32)


def render_at(
    crop: np.ndarray, side: int, down: Image.Resampling, up: Image.Resampling
) -> np.ndarray:
    """The crop as a generator working at side x side pixels would have drawn it."""
    height, width = crop.shape[:2]
    small = Image.fromarray(crop).resize((side, side), down)
    return np.asarray(small.resize((width, height), up))


def _random_render(
    crop: np.ndarray, side_range: tuple[int, int], rng: np.random.Generator, sharpen_p: float
) -> np.ndarray:
    side = int(rng.integers(side_range[0], side_range[1] + 1))
    down = RESAMPLE_FILTERS[int(rng.integers(1, len(RESAMPLE_FILTERS)))]  # no NEAREST down
    up = RESAMPLE_FILTERS[int(rng.integers(2, len(RESAMPLE_FILTERS)))]  # smooth upsamplers
    out = render_at(crop, side, down, up)
    if rng.random() < sharpen_p:
        percent = int(rng.integers(60, 200))
        radius = float(rng.uniform(1.0, 3.0))
        image = Image.fromarray(out).filter(ImageFilter.UnsharpMask(radius, percent, threshold=0))
        out = np.asarray(image)
    return out


def resolution(
    crop: np.ndarray, points: np.ndarray, rng: np.random.Generator, options: SynthesisOptions
) -> tuple[np.ndarray, np.ndarray]:
    """The face region rendered at low resolution and blended back into the sharper crop."""
    rendered = _random_render(crop, options.render_side, rng, options.sharpen_p)
    mask = _soft_face_mask(crop, points, rng)
    return blend(crop, rendered, mask), mask


def colour_transfer(
    source: np.ndarray, target: np.ndarray, mask: np.ndarray, strength: float
) -> np.ndarray:
    """source with its per-channel mean and spread inside the mask moved towards target's
    (Reinhard-style, in RGB); strength 1 matches them fully."""
    weights = mask.reshape(-1) + 1e-6
    out = source.astype(np.float32)
    for channel in range(3):
        s = source[..., channel].reshape(-1).astype(np.float64)
        t = target[..., channel].reshape(-1).astype(np.float64)
        s_mean, t_mean = np.average(s, weights=weights), np.average(t, weights=weights)
        s_std = np.sqrt(np.average((s - s_mean) ** 2, weights=weights)) + 1e-3
        t_std = np.sqrt(np.average((t - t_mean) ** 2, weights=weights)) + 1e-3
        matched = (out[..., channel] - s_mean) * (t_std / s_std) + t_mean
        out[..., channel] = strength * matched + (1.0 - strength) * out[..., channel]
    return np.asarray(out.clip(0, 255).astype(np.uint8))


def _border_anchors(width: int, height: int) -> np.ndarray:
    steps = np.linspace(0.0, 1.0, WARP_BORDER_ANCHORS + 1)[:-1]
    top = [(s * (width - 1), 0.0) for s in steps]
    right = [(width - 1.0, s * (height - 1)) for s in steps]
    bottom = [((1 - s) * (width - 1), height - 1.0) for s in steps]
    left = [(0.0, (1 - s) * (height - 1)) for s in steps]
    return np.array(top + right + bottom + left, dtype=np.float64)


def thin_plate_warp(
    image: np.ndarray, from_points: np.ndarray, to_points: np.ndarray
) -> np.ndarray:
    """The image warped so that its content at from_points lands on to_points (x, y), the
    crop border held still, by a thin-plate spline."""
    height, width = image.shape[:2]
    anchors = _border_anchors(width, height)
    destination = np.vstack([to_points, anchors])
    origin = np.vstack([from_points, anchors])
    # For every output pixel, where in the input to read: a map from destination to origin.
    spline = RBFInterpolator(destination, origin, kernel="thin_plate_spline")
    gx = np.linspace(0, width - 1, WARP_GRID)
    gy = np.linspace(0, height - 1, WARP_GRID)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    coarse = spline(grid).reshape(WARP_GRID, WARP_GRID, 2)
    # Bilinear interpolation of the coarse field to every pixel.
    rows = np.linspace(0, WARP_GRID - 1, height)
    cols = np.linspace(0, WARP_GRID - 1, width)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    read_x = map_coordinates(coarse[..., 0], [rr, cc], order=1)
    read_y = map_coordinates(coarse[..., 1], [rr, cc], order=1)
    channels = [
        map_coordinates(image[..., c].astype(np.float32), [read_y, read_x], order=1, mode="nearest")
        for c in range(image.shape[2])
    ]
    return np.asarray(np.stack(channels, axis=-1).clip(0, 255).astype(np.uint8))


def swap(
    crop: np.ndarray,
    points: np.ndarray,
    donor: np.ndarray,
    donor_points: np.ndarray,
    rng: np.random.Generator,
    options: SynthesisOptions,
) -> tuple[np.ndarray, np.ndarray]:
    """The donor's face warped onto the crop's landmarks, colour-matched and blended in."""
    side = crop.shape[0]
    jitter = rng.uniform(-options.landmark_jitter, options.landmark_jitter, (5, 2)) * side
    warped = thin_plate_warp(donor, np.asarray(donor_points, np.float64), points + jitter)
    mask = _soft_face_mask(crop, points, rng)
    warped = colour_transfer(warped, crop, mask, float(rng.uniform(*options.colour_match)))
    if rng.random() < options.swap_low_res_p:
        warped = _random_render(warped, options.render_side, rng, options.sharpen_p)
    return blend(crop, warped, mask), mask


def mouth_mask(
    shape: tuple[int, int], points: np.ndarray, rng: np.random.Generator, feather: float
) -> np.ndarray:
    """A soft mask over the lower face: from below the nose to the chin, cheek to cheek."""
    height, width = shape
    eyes = (points[LEFT_EYE] + points[RIGHT_EYE]) / 2
    mouth = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) / 2
    face_length = float(np.hypot(*(mouth - eyes)))
    mouth_width = float(np.hypot(*(points[MOUTH_RIGHT] - points[MOUTH_LEFT])))
    half_w = max(mouth_width, face_length) * rng.uniform(0.8, 1.1)
    top = mouth[1] - face_length * rng.uniform(0.45, 0.65)
    bottom = mouth[1] + face_length * rng.uniform(0.6, 0.9)
    drawn = Image.new("L", (width, height), 0)
    ImageDraw.Draw(drawn).ellipse((mouth[0] - half_w, top, mouth[0] + half_w, bottom), fill=255)
    soft = drawn.filter(ImageFilter.GaussianBlur(feather * width))
    return np.asarray(soft, dtype=np.float32) / 255.0


def mouth(
    crop: np.ndarray, points: np.ndarray, rng: np.random.Generator, options: SynthesisOptions
) -> tuple[np.ndarray, np.ndarray]:
    """The lower face re-rendered at low resolution with the mouth opened or closed."""
    mouth_centre = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) / 2
    mouth_width = float(np.hypot(*(points[MOUTH_RIGHT] - points[MOUTH_LEFT])))
    opening = rng.uniform(*options.mouth_open) * mouth_width
    # Landmarks below the mouth centre move down with the jaw; the rest stay.
    moved = np.array(points, dtype=np.float64)
    chin_points = np.array([[mouth_centre[0], mouth_centre[1] + mouth_width]])
    source = np.vstack([moved, chin_points])
    target = source.copy()
    target[-1, 1] += opening
    target[MOUTH_LEFT, 1] += opening * 0.3
    target[MOUTH_RIGHT, 1] += opening * 0.3
    warped = thin_plate_warp(crop, source, target)
    rendered = _random_render(warped, options.mouth_render_side, rng, options.sharpen_p)
    mask = mouth_mask(crop.shape[:2], points, rng, float(rng.uniform(*options.mouth_feather)))
    return blend(crop, rendered, mask), mask


def sbi(
    crop: np.ndarray, points: np.ndarray, rng: np.random.Generator, options: SynthesisOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Self-blended image (sbi.self_blend with these options)."""
    return self_blend(crop, points, rng, options.sbi)


SelfFamily = Callable[
    [np.ndarray, np.ndarray, np.random.Generator, SynthesisOptions], tuple[np.ndarray, np.ndarray]
]
# Families that need only the crop itself; `swap` also needs a donor face.
SELF_FAMILIES: dict[str, SelfFamily] = {"sbi": sbi, "mouth": mouth, "resolution": resolution}
FAMILIES = (*SELF_FAMILIES, "swap")
