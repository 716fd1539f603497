from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_stream.config import FaceSettings, LimitSettings, SamplingSettings
from deepfake_stream.detection.faces import (
    ConfirmedTracker,
    Face,
    FaceDetector,
    assign_tracks,
    iou,
    keep_confirmed_tracks,
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
