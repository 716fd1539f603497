from __future__ import annotations

from pathlib import Path

import pytest

from deepfake_stream.config import FaceSettings, LimitSettings, SamplingSettings
from deepfake_stream.detection.faces import FaceDetector, assign_tracks, iou
from deepfake_stream.detection.registry import get_spec
from deepfake_stream.detection.search import FaceSearch
from deepfake_stream.media import Picture, load_media

VIDEO_SIDE = 360
PHOTO_SIDE = 720


def _detector(**settings: object) -> FaceDetector:
    return FaceDetector(FaceSettings(**settings), get_spec("srm_efficientnet_lite0").crop)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return _detector()


def _frames(path: Path, segments: int = 8, per_segment: int = 4) -> list[tuple[Picture, float]]:
    media = load_media(
        path, LimitSettings(), SamplingSettings(segments=segments, frames_per_segment=per_segment)
    )
    return [(frame.picture, frame.time_s) for frame in media.frames]


def test_a_talking_head_is_followed_between_keyframes_and_placed_as_a_whole_search_would(
    detector: FaceDetector, fixtures: Path
) -> None:
    frames = _frames(fixtures / "real_hdtf_2s.mp4")
    search = FaceSearch(detector, VIDEO_SIDE)
    found = search.find(frames[:5]) + search.find(frames[5:])
    whole = detector.detect([picture for picture, _ in frames], VIDEO_SIDE)
    assert [len(faces) for faces in found] == [1] * 32
    assert search.full_searches == 8  # one frame in keyframe_interval (4)
    for followed, searched in zip(found, whole, strict=True):
        assert iou(followed[0].box, searched[0].box) > 0.8
        assert followed[0].confidence > 0.9
    assert {ids[0] for ids in assign_tracks([[f.box for f in faces] for faces in found])} == {0}


def test_two_people_are_each_followed_on_their_own_track(
    detector: FaceDetector, fixtures: Path
) -> None:
    frames = _frames(fixtures / "two_people_2s.mp4")
    search = FaceSearch(detector, VIDEO_SIDE)
    found = search.find(frames)
    assert all(len(faces) == 2 for faces in found)
    assert search.full_searches < len(frames) / 2
    tracks = assign_tracks([[f.box for f in faces] for faces in found])
    width = frames[0][0].size[0]
    left = {
        track
        for faces, ids in zip(found, tracks, strict=True)
        for face, track in zip(faces, ids, strict=True)
        if (face.box[0] + face.box[2]) / 2 < width / 2
    }
    assert len(left) == 1


def test_interval_one_searches_every_frame_whole_as_detect_does(fixtures: Path) -> None:
    detector = _detector(keyframe_interval=1)
    frames = _frames(fixtures / "two_people_2s.mp4", segments=2, per_segment=3)
    search = FaceSearch(detector, VIDEO_SIDE)
    found = search.find(frames)
    assert search.full_searches == len(frames)
    whole = detector.detect([picture for picture, _ in frames], VIDEO_SIDE)
    boxes = [[face.box for face in faces] for faces in found]
    assert boxes == [[face.box for face in faces] for faces in whole]


def test_a_long_gap_between_frames_means_a_whole_search(
    detector: FaceDetector, fixtures: Path
) -> None:
    frames = _frames(fixtures / "real_hdtf_2s.mp4", segments=1, per_segment=3)
    gap = detector.settings.max_track_gap_s + 1
    search = FaceSearch(detector, VIDEO_SIDE)
    search.find([frames[0], (frames[1][0], frames[1][1] + gap)])
    assert search.full_searches == 2


def test_a_face_that_leaves_is_searched_for_whole_on_the_same_frame(
    detector: FaceDetector, fixtures: Path
) -> None:
    frames = _frames(fixtures / "real_hdtf_2s.mp4", segments=1, per_segment=2)
    (empty,) = _frames(fixtures / "noface.jpg", segments=1, per_segment=1)
    search = FaceSearch(detector, VIDEO_SIDE)
    found = search.find([*frames, (empty[0], frames[-1][1] + 0.1)])
    assert [len(faces) for faces in found] == [1, 1, 0]
    assert search.full_searches == 2  # the first frame, then the frame the face left


def test_a_portrait_is_searched_coarsely_and_placed_as_the_fine_search_would(
    detector: FaceDetector, fixtures: Path
) -> None:
    (picture, _) = _frames(fixtures / "photo.jpg")[0]
    (coarse,) = detector.detect_coarse_first([picture], PHOTO_SIDE, VIDEO_SIDE)
    (fine,) = detector.detect([picture], PHOTO_SIDE)
    assert len(coarse) == len(fine) == 1
    assert iou(coarse[0].box, fine[0].box) > 0.85


def test_a_group_photo_with_small_faces_is_searched_again_finely(
    detector: FaceDetector, fixtures: Path
) -> None:
    (picture, _) = _frames(fixtures / "group.jpg")[0]
    search = FaceSearch(detector, PHOTO_SIDE, coarse_side=VIDEO_SIDE)
    (faces,) = search.find([(picture, 0.0)])
    assert len(faces) == 6
