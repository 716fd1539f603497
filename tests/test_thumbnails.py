"""Thumbnails of the analysed faces, through the real pipeline and model: which faces are
shown (each person's most suspicious in each segment), and that each is the crop the model
judged, as a small JPEG."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from deepfake_stream.config import AnalysisOptions
from deepfake_stream.media import load_media
from deepfake_stream.pipeline import Analyzer
from deepfake_stream.thumbnails import THUMBNAIL_SIDE, jpeg_data_uri

THUMBNAILS = AnalysisOptions(thumbnails=True)


def decoded(uri: str) -> np.ndarray:
    header, _, encoded = uri.partition(",")
    assert header == "data:image/jpeg;base64"
    with Image.open(io.BytesIO(base64.b64decode(encoded, validate=True))) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def test_each_person_in_each_segment_shows_their_most_suspicious_face(
    analyzer: Analyzer, fixtures: Path
) -> None:
    result = analyzer.analyze(fixtures / "two_people_2s.mp4", THUMBNAILS)
    assert result.thumbnails is not None
    expected = []
    for segment in result.segments:
        for track_id in sorted({face.track_id for face in segment.faces}):
            own = [face for face in segment.faces if face.track_id == track_id]
            top = max(own, key=lambda face: face.probability)  # the first of equals
            expected.append((segment.index, top.time_s, track_id, top.probability))
    shown = [(t.segment, t.time_s, t.track_id, t.probability) for t in result.thumbnails]
    assert sorted(shown) == sorted(expected)
    assert len(shown) == 8 * 2  # 8 segments, 2 people, both in every segment
    assert [t.time_s for t in result.thumbnails] == sorted(t.time_s for t in result.thumbnails)
    # Not asked for: none, and nothing else changes.
    plain = analyzer.analyze(fixtures / "two_people_2s.mp4")
    assert plain.thumbnails is None
    assert plain.segments == result.segments and plain.verdict == result.verdict


def test_a_photo_shows_each_person_once(analyzer: Analyzer, fixtures: Path) -> None:
    result = analyzer.analyze(fixtures / "group.jpg", THUMBNAILS)
    assert result.thumbnails is not None
    assert [t.track_id for t in result.thumbnails] == [p.track_id for p in result.people]
    probabilities = {face.track_id: face.probability for face in result.segments[0].faces}
    assert all(t.probability == probabilities[t.track_id] for t in result.thumbnails)


def test_no_face_gives_no_thumbnails(analyzer: Analyzer, fixtures: Path) -> None:
    assert analyzer.analyze(fixtures / "noface.jpg", THUMBNAILS).thumbnails == []


def test_a_thumbnail_is_the_crop_made_small(analyzer: Analyzer, fixtures: Path) -> None:
    media = load_media(fixtures / "photo.jpg", analyzer.settings.limits, analyzer.settings.sampling)
    ((face,),) = analyzer.faces.detect([media.frames[0].picture], short_side=720)
    thumbnail = decoded(jpeg_data_uri(face.crop))
    assert thumbnail.shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3) and face.crop.shape[0] > 96
    # The same picture, up to JPEG's loss: channels in the same order, nothing flipped.
    small = np.asarray(Image.fromarray(face.crop).resize(thumbnail.shape[:2]), dtype=float)
    assert np.abs(small - thumbnail).mean() < 6
    assert np.abs(small[::-1] - thumbnail).mean() > 12  # upside down
    assert np.abs(small[..., ::-1] - thumbnail).mean() > 12  # BGR
