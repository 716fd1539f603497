"""What loading a file gives: its description and its sampled frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .pictures import Picture
from .sniff import MediaKind


@dataclass(frozen=True)
class MediaInfo:
    kind: MediaKind
    format: str
    width: int  # as displayed (after rotation)
    height: int
    duration_s: float | None  # None for images
    fps: float | None  # average frame rate; None for images
    rotation: int  # degrees applied to show the frame upright (0, 90, 180, 270)


@dataclass(frozen=True)
class SampledFrame:
    picture: Picture  # the frame's pixels, on request
    time_s: float  # presentation time from the start of the video (0 for images)
    segment: int  # index of the segment it was sampled for


@dataclass(frozen=True)
class LoadedMedia:
    info: MediaInfo
    frames: list[SampledFrame]  # in time order
    warnings: list[str]  # problems that did not stop the analysis


# Called with each sampled frame as soon as it is decoded, and the number of frames wanted.
FrameCallback = Callable[["SampledFrame", int], None]
