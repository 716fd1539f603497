"""Importing faces: a folder of photos (or videos) becomes a metadata.csv crop folder.

Each face is cut exactly as the service cuts it for the weights in force: MTCNN on the frame
at the service's detection size, the square crop geometry, the detail limit, and the JPEG
encode every serving crop ends with (the file on disk is that encode). So a model trained on
the folder sees what serving shows it, whatever the source's own resolution or compression.

Layout written: DEST/metadata.csv and DEST/<source>/<name>.jpg. Columns: file, label, group,
source, family, face_side (the crop's side in source pixels), confidence, landmarks (MTCNN's
five points in crop pixels: the synthesised families need them) and dhash (a 64-bit
difference hash, for near-duplicate checks across sources). Importing into a folder that has
a metadata.csv appends and skips files already imported, so an interrupted import resumes.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from ..config import Settings
from ..detection.crop import square_crop_box
from ..detection.faces import Face, FaceDetector
from ..detection.weights import read_manifest
from ..errors import MediaError
from ..media import ImagePicture, MediaKind, Picture, decode_image, load_media, sniff_file
from .data import LABELS, METADATA_FILE, REAL_FAMILY

log = logging.getLogger(__name__)

COLUMNS = (
    "file",
    "label",
    "group",
    "source",
    "family",
    "face_side",
    "confidence",
    "landmarks",
    "dhash",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}
# Images per MTCNN call: dataset photos mostly share one size, so they batch.
IMPORT_DETECT_BATCH = 32
# Two photos whose difference hashes differ in at most this many of 64 bits are one photo
# (FFHQ's images as two publishers resized and re-encoded them differ in 0-2). The hash is of
# the whole photo: their face crops can differ more, as MTCNN's box moves with resolution.
DUPLICATE_MAX_BITS = 3
# LFW names files <Person_Name>_<NNNN>.jpg: the person is the group.
PERSON_SUFFIX = re.compile(r"_\d+$")
# Photos are hashed at this short side (any size above the hash's 9 x 8 does).
HASH_SOURCE_SIDE = 64
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

GroupBy = Literal["person", "image"]


@dataclass(frozen=True)
class ImportOptions:
    source: str  # the source's name: its folder in DEST and the `source` column
    label: str = "REAL"  # REAL or FAKE
    family: str = REAL_FAMILY  # a fake's family (generated, ...); "real" for reals
    group_by: GroupBy = "image"  # "person": LFW-style names; a video is always one group
    limit: int | None = None  # at most this many files, drawn at random with seed
    seed: int = 0
    skip_duplicates_of: tuple[Path, ...] = ()  # imported folders whose faces are not taken again

    def __post_init__(self) -> None:
        if not SOURCE_NAME.match(self.source):
            raise ValueError(f"source name {self.source!r}: letters, digits, '.', '_', '-'")
        if self.label not in LABELS:
            raise ValueError(f"label {self.label!r} is not REAL or FAKE")
        if (self.label == "REAL") != (self.family == REAL_FAMILY):
            raise ValueError("reals have the family 'real', fakes another")


@dataclass(frozen=True)
class ImportReport:
    imported: int
    already_there: int
    no_face: int
    duplicates: int
    unreadable: int


def difference_hash(rgb: np.ndarray) -> int:
    """64-bit dHash: is each pixel of a 9x8 grey thumbnail brighter than its right neighbour."""
    grey = Image.fromarray(rgb).convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).ravel()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


class HashIndex:
    """Known difference hashes; near(h) says whether one within DUPLICATE_MAX_BITS is known."""

    def __init__(self, hashes: Sequence[int] = ()) -> None:
        self._hashes = np.array(list(hashes), dtype=np.uint64)

    def add(self, value: int) -> None:
        self._hashes = np.append(self._hashes, np.uint64(value))

    def near(self, value: int) -> bool:
        if not len(self._hashes):
            return False
        differing = np.bitwise_xor(self._hashes, np.uint64(value))
        bits = np.unpackbits(differing.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        return bool((bits <= DUPLICATE_MAX_BITS).any())


def read_hashes(folder: Path) -> list[int]:
    """The dhash column of an imported folder."""
    with (folder / METADATA_FILE).open(newline="") as handle:
        return [int(row["dhash"], 16) for row in csv.DictReader(handle) if row.get("dhash")]


def group_of(path: Path, group_by: GroupBy) -> str:
    if group_by == "person":
        return PERSON_SUFFIX.sub("", path.stem)
    return path.stem


def media_files(root: Path) -> list[Path]:
    """Images and videos under root, sorted (so a seed picks the same files everywhere)."""
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def service_face_detector(settings: Settings) -> FaceDetector:
    """MTCNN with the service's settings and the crop of the weights in force, less the final
    JPEG encode, which import does when it writes the file."""
    if settings.model.weights is None:
        raise ValueError("importing needs trained weights: their manifest sets the crop")
    manifest = read_manifest(settings.model.weights)
    faces = settings.faces.model_copy(update={"detect_batch_size": IMPORT_DETECT_BATCH})
    return FaceDetector(faces, manifest.crop.model_copy(update={"jpeg_quality": None}))


class FaceImporter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.model.weights is None:
            raise ValueError("importing needs trained weights: their manifest sets the crop")
        self.manifest = read_manifest(settings.model.weights)
        self.detector = service_face_detector(settings)

    def run(self, src: Path, dest: Path, options: ImportOptions) -> ImportReport:
        files = media_files(src)
        if options.limit is not None and len(files) > options.limit:
            chosen = np.random.default_rng(options.seed).choice(len(files), options.limit, False)
            files = [files[i] for i in sorted(chosen)]
        metadata = dest / METADATA_FILE
        (dest / options.source).mkdir(parents=True, exist_ok=True)
        done, own_hashes = _already_imported(metadata)
        others = [h for folder in options.skip_duplicates_of for h in read_hashes(folder)]
        seen_elsewhere, seen_here = HashIndex(others), HashIndex(own_hashes)
        counts = {"imported": 0, "already_there": 0, "no_face": 0, "duplicates": 0}
        unreadable = 0
        write_header = not metadata.is_file()
        with metadata.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            if write_header:
                writer.writeheader()
            todo = []
            for path in files:
                if f"{options.source}/{_crop_name(src, path, 0)}" in done:
                    counts["already_there"] += 1
                else:
                    todo.append(path)
            for path, index, face, photo in self._faces(todo, counts):
                if face is None or photo is None:
                    unreadable += 1
                    continue
                crop = face.crop
                fingerprint = difference_hash(photo.to_rgb(HASH_SOURCE_SIDE))
                if seen_elsewhere.near(fingerprint) or seen_here.near(fingerprint):
                    counts["duplicates"] += 1
                    continue
                seen_here.add(fingerprint)
                relative = f"{options.source}/{_crop_name(src, path, index)}"
                quality = self.manifest.crop.jpeg_quality or 95
                Image.fromarray(crop).save(dest / relative, format="JPEG", quality=quality)
                writer.writerow(self._row(relative, path, face, fingerprint, options))
                counts["imported"] += 1
                if counts["imported"] % 500 == 0:
                    handle.flush()
                    log.info("%s: %d faces imported", options.source, counts["imported"])
        return ImportReport(unreadable=unreadable, **counts)

    def _row(
        self, relative: str, path: Path, face: Face, fingerprint: int, options: ImportOptions
    ) -> dict[str, str]:
        crop = self.manifest.crop
        x1, y1, x2, _ = square_crop_box(face.box, crop.margin, crop.offset_y)
        side = x2 - x1
        scale = crop.size / side
        points = [((x - x1) * scale, (y - y1) * scale) for x, y in face.landmarks]
        is_video = path.suffix.lower() in VIDEO_SUFFIXES
        return {
            "file": relative,
            "label": options.label,
            "group": f"{options.source}:"
            + (path.stem if is_video else group_of(path, options.group_by)),
            "source": options.source,
            "family": options.family,
            "face_side": str(round(side)),
            "confidence": f"{face.confidence:.4f}",
            "landmarks": " ".join(f"{v:.2f}" for point in points for v in point),
            "dhash": f"{fingerprint:016x}",
        }

    def _faces(
        self, paths: Sequence[Path], counts: dict[str, int]
    ) -> Iterator[tuple[Path, int, Face | None, Picture | None]]:
        """(file, frame index, its most prominent confident face, the frame), Nones for
        unreadable files; files without such a face are counted, not yielded."""
        limits, short_side = self.settings.limits, self.settings.faces.detect_short_side_image
        images: list[tuple[Path, ImagePicture]] = []

        def flush() -> Iterator[tuple[Path, int, Face | None, Picture | None]]:
            found = self.detector.detect([picture for _, picture in images], short_side)
            for (path, picture), faces in zip(images, found, strict=True):
                face = self._prominent(faces)
                if face is None:
                    counts["no_face"] += 1
                else:
                    yield path, 0, face, picture
            images.clear()

        for path in paths:
            try:
                media_type = sniff_file(path)
                if media_type.kind is MediaKind.IMAGE:
                    picture, _ = decode_image(path, media_type, limits)
                    images.append((path, picture))
                    if len(images) >= IMPORT_DETECT_BATCH:
                        yield from flush()
                    continue
                loaded = load_media(path, limits, self.settings.sampling)
            except (MediaError, OSError) as exc:
                log.warning("skipped %s: %s", path.name, exc)
                yield path, 0, None, None
                continue
            pictures = [frame.picture for frame in loaded.frames]
            found = self.detector.detect(pictures, self.settings.faces.detect_short_side)
            for index, (frame, faces) in enumerate(zip(pictures, found, strict=True)):
                face = self._prominent(faces)
                if face is None:
                    counts["no_face"] += 1
                else:
                    yield path, index, face, frame
        if images:
            yield from flush()

    def _prominent(self, faces: Sequence[Face]) -> Face | None:
        """The largest face as confident as the service demands of a new person."""
        floor = self.settings.faces.min_confidence
        return next((face for face in faces if face.confidence >= floor), None)


def _crop_name(src: Path, path: Path, index: int) -> str:
    stem = "_".join(path.relative_to(src).with_suffix("").parts)
    return f"{stem}.jpg" if path.suffix.lower() in IMAGE_SUFFIXES else f"{stem}_{index:03d}.jpg"


def _already_imported(metadata: Path) -> tuple[set[str], list[int]]:
    if not metadata.is_file():
        return set(), []
    with metadata.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row["file"] for row in rows}, [int(row["dhash"], 16) for row in rows if row["dhash"]]
