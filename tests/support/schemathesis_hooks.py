"""Schemathesis hooks for the contract run (SCHEMATHESIS_HOOKS=support.schemathesis_hooks):
real files for each media type the schema lets the upload's file part hold, since generated
bytes would be refused (415) although the schema's `binary` admits them."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import strategies as st

from deepfake_stream.api.upload import UPLOAD_MEDIA_TYPES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MEDIA_FIXTURES = {
    "image/jpeg": ["photo.jpg", "noface.jpg"],
    "image/png": ["photo.png"],
    "image/webp": ["photo.webp"],
    "image/bmp": ["photo.bmp"],
    "video/mp4": ["real_hdtf_2s.mp4"],
    "video/quicktime": ["tiny.mov"],
    "video/webm": ["tiny.webm"],
    "video/x-matroska": ["tiny.mkv"],
    "video/x-msvideo": ["tiny.avi"],
}
assert set(MEDIA_FIXTURES) == set(UPLOAD_MEDIA_TYPES)

for media_type, names in MEDIA_FIXTURES.items():
    schemathesis.openapi.media_type(
        media_type, st.sampled_from([(FIXTURES / name).read_bytes() for name in names])
    )
