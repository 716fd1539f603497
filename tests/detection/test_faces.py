from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepfake_stream.config import FaceSettings, LimitSettings, SamplingSettings
from deepfake_stream.detection.faces import (
    ConfirmedTracker,
    Face,
    FaceDetector,
    assign_tracks,
    brighten_if_dark,
    iou,
    keep_confirmed_tracks,
    nms_per_frame,
)
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.media import load_media

CROP = 224


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(FaceSettings(), get_spec("srm_efficientnet_lite0").crop)


def _pictures(path: Path, segments: int = 8, per_segment: int = 4) -> list:
    media = load_media(
        path, LimitSettings(), SamplingSettings(segments=segments, frames_per_segment=per_segment)
    )
    return [frame.picture for frame in media.frames]


def test_photo_face_has_a_sensible_box_landmarks_and_crop(
    detector: FaceDetector, fixtures: Path
) -> None:
    (picture,) = _pictures(fixtures / "photo.jpg")
    (faces,) = detector.detect([picture], short_side=720)
    assert len(faces) == 1
    face = faces[0]
    width, height = picture.size
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert 0.2 * width < x2 - x1 < 0.9 * width  # a portrait: the face is a large part
    assert face.confidence > 0.95
    (left_eye, right_eye, nose, mouth_left, mouth_right) = face.landmarks
    assert left_eye[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert face.crop.shape == (CROP, CROP, 3) and face.crop.dtype == np.uint8


def test_no_face_image_yields_none(detector: FaceDetector, fixtures: Path) -> None:
    (picture,) = _pictures(fixtures / "noface.jpg")
    assert detector.detect([picture], short_side=720) == [[]]


def test_group_photo_yields_every_face(detector: FaceDetector, fixtures: Path) -> None:
    (picture,) = _pictures(fixtures / "group.jpg")
    (faces,) = detector.detect([picture], short_side=720)
    assert len(faces) == 6
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)  # largest first


def test_every_sampled_frame_of_a_talking_head_has_its_face(
    detector: FaceDetector, fixtures: Path
) -> None:
    pictures = _pictures(fixtures / "real_hdtf_2s.mp4")
    found = detector.detect(pictures, short_side=360)
    assert [len(faces) for faces in found] == [1] * 32
    tracks = assign_tracks([[f.box for f in faces] for faces in found])
    assert {ids[0] for ids in tracks} == {0}


def test_two_people_make_two_tracks(detector: FaceDetector, fixtures: Path) -> None:
    pictures = _pictures(fixtures / "two_people_2s.mp4")
    found = detector.detect(pictures, short_side=360)
    tracks = assign_tracks([[f.box for f in faces] for faces in found])
    assert all(len(faces) == 2 for faces in found)
    left_ids = set()
    for faces, ids in zip(found, tracks, strict=True):
        for face, track in zip(faces, ids, strict=True):
            if (face.box[0] + face.box[2]) / 2 < pictures[0].size[0] / 2:
                left_ids.add(track)
    assert len(left_ids) == 1  # the person on the left keeps one id throughout
    assert {t for ids in tracks for t in ids} == {0, 1}


def test_rotated_video_faces_are_found_upright(detector: FaceDetector, fixtures: Path) -> None:
    pictures = _pictures(fixtures / "rotated90_2s.mp4", segments=2, per_segment=2)
    for faces in detector.detect(pictures, short_side=360):
        assert len(faces) == 1
        eye, _, nose, mouth, _ = faces[0].landmarks
        assert eye[1] < nose[1] < mouth[1]


def test_dark_frames_are_brightened_for_the_detector_only() -> None:
    dark = np.full((2, 8, 8, 3), 20, dtype=np.uint8)
    bright = np.full((1, 8, 8, 3), 180, dtype=np.uint8)
    batch = np.concatenate([dark, bright])
    out = brighten_if_dark(batch)
    assert out[:2].mean() / 255 == pytest.approx(0.45, abs=0.02)
    assert np.array_equal(out[2], batch[2])
    assert batch[:2].max() == 20  # input untouched


def test_tracks_survive_movement_and_new_people_get_new_ids() -> None:
    frames = [
        [(100, 100, 200, 200)],
        [(130, 105, 230, 205), (400, 100, 480, 180)],  # first person moved; a second appears
        [(400, 102, 480, 182), (170, 110, 270, 210)],  # order swapped in the detector output
        [],  # nobody
        [(180, 110, 280, 210)],
    ]
    assert assign_tracks(frames) == [[0], [0, 1], [1, 0], [], [0]]


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def _face(confidence: float) -> Face:
    return Face(box=(0, 0, 10, 10), confidence=confidence, landmarks=(), crop=np.zeros((1, 1, 3)))


def test_weak_detections_survive_only_on_a_confirmed_track() -> None:
    frames = [
        [_face(0.95), _face(0.85)],  # a person, and a poster on the wall
        [_face(0.7), _face(0.8)],  # the person half covered; the poster again
        [_face(0.99)],
    ]
    tracks = [[0, 1], [0, 1], [0]]
    kept, ids = keep_confirmed_tracks(frames, tracks, min_confidence=0.9)
    assert [[f.confidence for f in faces] for faces in kept] == [[0.95], [0.7], [0.99]]
    assert ids == [[0], [0], [0]]


def _face_at(x: float, confidence: float) -> Face:
    return Face(
        box=(x, 0, x + 10, 10), confidence=confidence, landmarks=(), crop=np.zeros((1, 1, 3))
    )


def test_a_live_track_counts_from_its_first_confident_face_as_in_files() -> None:
    tracker = ConfirmedTracker(min_confidence=0.9)
    # A poster (weak, at x=100) from the start; the person (x=0) turns up weak, then clearly.
    assert tracker.update([_face_at(100, 0.8)]) == []
    assert tracker.update([_face_at(0, 0.7), _face_at(100, 0.8)]) == []
    person = _face_at(1, 0.95)
    assert tracker.update([person, _face_at(100, 0.85)]) == [(person, 0)]
    weak = _face_at(2, 0.6)  # half covered: still the person, kept on the confirmed track
    assert tracker.update([_face_at(100, 0.8), weak]) == [(weak, 0)]
    poster = _face_at(100, 0.91)  # the poster turns confident once: a track of its own now
    assert tracker.update([poster]) == [(poster, 1)]


def test_nms_never_suppresses_a_box_of_another_frame() -> None:
    # Frame 1's box lies partly outside its frame (negative coordinates): shifted by the usual
    # per-frame offset it would land exactly on frame 0's box.
    boxes = torch.tensor([[100.0, 100.0, 200.0, 200.0], [-101.0, -101.0, -1.0, -1.0]])
    scores = torch.tensor([0.9, 0.8])
    frames = torch.tensor([0, 1])
    for overlap in ("union", "min"):
        assert sorted(nms_per_frame(boxes, scores, frames, 0.5, overlap).tolist()) == [0, 1]


def test_min_overlap_nms_of_a_frame_does_not_depend_on_its_batch() -> None:
    # Two overlapping boxes with the same (saturated) score: the first one listed wins,
    # whatever else is in the batch.
    frame = torch.tensor([[10.0, 10.0, 110.0, 110.0], [0.0, 0.0, 120.0, 120.0]])
    alone = nms_per_frame(frame, torch.ones(2), torch.zeros(2, dtype=torch.long), 0.7, "min")
    corners = torch.rand(40, 4, generator=torch.Generator().manual_seed(0)) * 50
    others = corners + torch.tensor([0.0, 0.0, 60.0, 60.0])
    batch = torch.cat([others, frame])
    frames = torch.cat([torch.arange(40) % 3, torch.full((2,), 3)])
    kept = nms_per_frame(batch, torch.ones(42), frames, 0.7, "min")
    assert alone.tolist() == [0]
    assert [int(i) - 40 for i in kept if frames[i] == 3] == [0]
