"""Structured edge cases for the fuzzing harness, built from the committed fixtures at test time:
what random mutation rarely produces. Each builder returns the file's bytes; CASES names them
(the name's suffix is for people: the type is always told from the bytes)."""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from .mutations import FIXTURES

FACE_VIDEO = FIXTURES / "real_hdtf_2s.mp4"  # 256x256, a talking head
FRAMES = 6


def _face_frames(count: int = FRAMES) -> list[np.ndarray]:
    with av.open(str(FACE_VIDEO)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return frames[:: max(1, len(frames) // count)][:count]


def _encode(
    container_format: str,
    codec: str,
    pix_fmt: str,
    size: tuple[int, int] | None = None,
    rate: int = 5,
    time_base: Fraction | None = None,
    pts_step: int = 1,
    count: int = FRAMES,
) -> bytes:
    """The face frames (resized to `size`) encoded as given; frame n at pts n * pts_step."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        first = _face_frames(1)[0]
        width, height = size or (first.shape[1], first.shape[0])
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        for index, rgb in enumerate(_face_frames(count)):
            picture = Image.fromarray(rgb).resize((width, height))
            frame = av.VideoFrame.from_image(picture).reformat(format=pix_fmt)
            frame.pts = index * pts_step
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _image(picture: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _photo() -> Image.Image:
    with Image.open(FIXTURES / "photo.jpg") as photo:
        return photo.convert("RGB")


# Video edge cases ---------------------------------------------------------------------------


def _ebml_vint(data: bytes, position: int) -> tuple[int, int]:
    """An EBML variable-length integer (marker bit removed) and the position after it."""
    length = 8 - int(math.log2(data[position])) if data[position] else 9
    value = data[position] & (0xFF >> length)
    for byte in data[position + 1 : position + length]:
        value = (value << 8) | byte
    return value, position + length


def _ebml_children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(element id, payload start, payload end) of the elements between start and end."""
    position = start
    while position < end:
        id_length = 8 - int(math.log2(data[position]))
        element = int.from_bytes(data[position : position + id_length], "big")
        size, payload = _ebml_vint(data, position + id_length)
        stop = min(end, payload + size)
        yield element, payload, stop
        position = stop


SEGMENT, CLUSTER, SIMPLE_BLOCK = 0x18538067, 0x1F43B675, 0xA3


def backwards_timestamps() -> bytes:
    """An MJPEG Matroska file whose frames' timestamps run backwards (patched block times)."""
    data = bytearray(_encode("matroska", "mjpeg", "yuvj420p", (128, 128)))
    times = iter(range(900, -1000, -150))  # milliseconds, descending, then negative
    for element, start, end in _ebml_children(data, 0, len(data)):
        if element != SEGMENT:
            continue
        for child, child_start, child_end in _ebml_children(data, start, end):
            if child != CLUSTER:
                continue
            for block, block_start, _ in _ebml_children(data, child_start, child_end):
                if block == SIMPLE_BLOCK:
                    _, after_track = _ebml_vint(data, block_start)
                    data[after_track : after_track + 2] = struct.pack(">h", next(times))
    return bytes(data)


def _patched_tkhd_matrix(matrix: tuple[int, ...]) -> bytes:
    """rotated90_2s.mp4 with its video track's display matrix replaced."""
    data = bytearray((FIXTURES / "rotated90_2s.mp4").read_bytes())
    box = data.index(b"tkhd")
    matrix_at = box + 4 + (52 if data[box + 4] == 1 else 40)
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrix)
    return bytes(data)


def _fixed(value: float, fraction_bits: int = 16) -> int:
    return round(value * (1 << fraction_bits))


def rotation_45() -> bytes:
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    return _patched_tkhd_matrix(
        (_fixed(c), _fixed(s), 0, _fixed(-s), _fixed(c), 0, 0, 0, _fixed(1, 30))
    )


def rotation_degenerate() -> bytes:
    """An all-zero display matrix: no angle at all."""
    return _patched_tkhd_matrix((0,) * 9)


def rotation_mirrored() -> bytes:
    return _patched_tkhd_matrix((_fixed(-1), 0, 0, 0, _fixed(1), 0, 0, 0, _fixed(1, 30)))


def no_decoder() -> bytes:
    """tiny.mkv with its codec id renamed to one FFmpeg does not know."""
    return (FIXTURES / "tiny.mkv").read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ")


def no_clusters() -> bytes:
    """tiny.mkv cut before its first cluster: a video track that holds no frames."""
    data = (FIXTURES / "tiny.mkv").read_bytes()
    return data[: data.index(CLUSTER.to_bytes(4, "big"))]


def audio_only() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        for index in range(4):
            frame.pts = index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def avi_zero_rate() -> bytes:
    """tiny.avi with its stream header's rate and scale zeroed: no frame rate at all."""
    data = bytearray((FIXTURES / "tiny.avi").read_bytes())
    header = data.index(b"strh") + 8
    data[header + 20 : header + 28] = bytes(8)  # dwScale, dwRate
    return bytes(data)


# Image edge cases ---------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _png_header_only(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def _bmp_header_only(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = bytes(64)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(body), 0, 0, 54) + info + body


def _exif_jpeg(orientation: object) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # type: ignore[assignment]
    return _image(_photo(), "JPEG", exif=exif.tobytes())


def exif_loop() -> bytes:
    """A JPEG whose EXIF IFD chain points back at itself."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 8)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    app1 = b"Exif\x00\x00" + tiff
    jpeg = _image(_photo(), "JPEG")
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def exif_bomb() -> bytes:
    """A JPEG with a full 64 KB EXIF segment: thousands of entries, each a large count."""
    entries = 5400
    ifd = struct.pack("<H", entries) + b"".join(
        struct.pack("<HHII", 0x1000 + index, 7, 0x7FFFFFFF, 8) for index in range(entries)
    )
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    app1 = (b"Exif\x00\x00" + tiff)[:65533]
    jpeg = _image(_photo(), "JPEG")
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def animated_png() -> bytes:
    frames = [Image.fromarray(rgb) for rgb in _face_frames(3)]
    return _image(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)


def animated_webp() -> bytes:
    frames = [Image.fromarray(rgb) for rgb in _face_frames(3)]
    return _image(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def _polyglot(head: bytes, body_fixture: str, skip: int = 0) -> bytes:
    return head + (FIXTURES / body_fixture).read_bytes()[skip:]


CASES: dict[str, Callable[[], bytes]] = {
    # Dimensions.
    "video_1x1.mkv": lambda: _encode("matroska", "ffv1", "yuv444p", (1, 1)),
    "video_odd_127x95.mkv": lambda: _encode("matroska", "ffv1", "yuv420p", (127, 95)),
    "video_4608x2592.mkv": lambda: _encode("matroska", "mjpeg", "yuvj420p", (4608, 2592), count=1),
    "png_zero_width.png": lambda: _png_header_only(0, 64),
    "png_200000x200000.png": lambda: _png_header_only(200_000, 200_000),
    "bmp_100000x100000.bmp": lambda: _bmp_header_only(100_000, 100_000),
    "bmp_zero_height.bmp": lambda: _bmp_header_only(64, 0),
    "bmp_top_down.bmp": lambda: _bmp_header_only(4, -4),
    # Rotation metadata.
    "rotation_45.mp4": rotation_45,
    "rotation_degenerate.mp4": rotation_degenerate,
    "rotation_mirrored.mp4": rotation_mirrored,
    # Pixel formats.
    "video_yuv444p.mp4": lambda: _encode("mp4", "libx264", "yuv444p"),
    "video_yuv420p10le.mkv": lambda: _encode("matroska", "libx264", "yuv420p10le"),
    "video_gray.avi": lambda: _encode("avi", "png", "gray"),
    "video_yuv410p.avi": lambda: _encode("avi", "ffv1", "yuv410p"),
    "video_rgba64be.avi": lambda: _encode("avi", "png", "rgba64be", (96, 96)),
    "video_bgra.avi": lambda: _encode("avi", "ffv1", "bgra"),
    "video_yuva420p.webm": lambda: _encode("webm", "libvpx-vp9", "yuva420p", (96, 96)),
    "png_16bit_gray.png": lambda: _image(_photo().convert("I;16"), "PNG"),
    "png_la.png": lambda: _image(_photo().convert("LA"), "PNG"),
    "png_palette_transparent.png": lambda: _image(_photo().convert("P"), "PNG", transparency=0),
    "jpeg_cmyk.jpg": lambda: _image(_photo().convert("CMYK"), "JPEG"),
    "bmp_1bit.bmp": lambda: _image(_photo().convert("1"), "BMP"),
    "webp_alpha.webp": lambda: _image(_photo().convert("RGBA"), "WEBP", lossless=True),
    # Codec context, frames.
    "no_decoder.mkv": no_decoder,
    "no_clusters.mkv": no_clusters,
    "audio_only.mp4": audio_only,
    # Frame rates, durations, timestamps.
    "rate_1e6_fps.mkv": lambda: _encode("matroska", "mjpeg", "yuvj420p", (64, 64), rate=1_000_000),
    "one_frame_per_1e7_s.mkv": lambda: _encode(
        "matroska", "mjpeg", "yuvj420p", (64, 64), time_base=Fraction(1, 1), pts_step=10**7
    ),
    "avi_zero_rate.avi": avi_zero_rate,
    "backwards_timestamps.mkv": backwards_timestamps,
    # Animated images, EXIF.
    "animated.png": animated_png,
    "animated.webp": animated_webp,
    "animated.gif": lambda: _image(_photo(), "GIF", save_all=True, append_images=[_photo()]),
    "exif_orientation_9.jpg": lambda: _exif_jpeg(9),
    "exif_orientation_pair.jpg": lambda: _exif_jpeg((6, 3)),
    "exif_orientation_65535.jpg": lambda: _exif_jpeg(65535),
    "exif_loop.jpg": exif_loop,
    "exif_bomb.jpg": exif_bomb,
    # Polyglots and stubs.
    "jpeg_header_over_mp4.jpg": lambda: _polyglot(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "real_hdtf_2s.mp4"
    ),
    "mp4_then_jpeg.mp4": lambda: (
        (FIXTURES / "tiny.mov").read_bytes() + (FIXTURES / "photo.jpg").read_bytes()
    ),
    "png_signature_over_webm.png": lambda: _polyglot(b"\x89PNG\r\n\x1a\n", "tiny.webm"),
    "webp_riff_over_avi.webp": lambda: _polyglot(b"RIFF\x00\x00\x00\x00WEBP", "tiny.avi", 12),
    "heic_brand.mp4": lambda: _polyglot(b"\x00\x00\x00\x18ftypheic", "tiny.mov", 12),
    "empty": lambda: b"",
    "one_byte": lambda: b"\xff",
    "ftyp_only.mp4": lambda: b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom",
}
