"""Stream a multipart upload straight to a temporary file, enforcing the size limit as it
arrives: the body is never held whole in memory, and an oversized upload is cut off early."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import CorruptMediaError, FileTooLargeError, InvalidParametersError

UPLOAD_FIELD = "file"
# What the file part may hold (its type is read from the bytes, never from this header).
UPLOAD_MEDIA_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/bmp",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/x-msvideo",
)
UPLOAD_PREFIX = "dfs-upload-"
# Room for multipart boundaries, part headers and the small form fields on top of the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Form fields other than the file are options: short strings, kept in memory.
MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16


def multipart_body(
    extra_properties: dict[str, object] | None = None, json_schema: dict[str, object] | None = None
) -> dict[str, object]:
    """The OpenAPI requestBody of an upload: the `file` part, which media types it may hold,
    and the route's other form fields (nothing else is accepted)."""
    content: dict[str, object] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [UPLOAD_FIELD],
                "additionalProperties": False,
                "properties": {
                    UPLOAD_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "Image (JPEG, PNG, WebP, BMP) or video (MP4, MOV, WebM, "
                        "MKV, AVI); the type is read from the bytes.",
                    },
                    **(extra_properties or {}),
                },
            },
            "encoding": {UPLOAD_FIELD: {"contentType": ", ".join(UPLOAD_MEDIA_TYPES)}},
        }
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "content": content}}


@dataclass(frozen=True)
class SavedUpload:
    path: Path  # temporary file; the caller deletes it
    filename: str | None  # as the client named it (never used to tell the type)
    size: int  # bytes
    fields: dict[str, str] = field(default_factory=dict)  # the other form fields


@dataclass
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    is_file: bool = False
    name: str | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class _Received:
    found: bool = False  # the file field has been seen
    complete: bool = False  # the closing boundary arrived
    size: int = 0  # bytes written so far
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def _disposition(headers: dict[bytes, bytes]) -> tuple[str | None, str | None]:
    _, options = parse_options_header(headers.get(b"content-disposition", b""))
    name = options.get(b"name")
    filename = options.get(b"filename")
    return (
        name.decode("utf-8", "replace") if name is not None else None,
        filename.decode("utf-8", "replace") if filename is not None else None,
    )


async def save_upload(request: Request, directory: Path | None, max_bytes: int) -> SavedUpload:
    """Read the request's multipart body; write its `file` part to a temp file."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidParametersError(
            f"send the media as multipart/form-data with a '{UPLOAD_FIELD}' field"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise FileTooLargeError(f"upload is {declared} bytes; the limit is {max_bytes}")

    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(prefix=UPLOAD_PREFIX, dir=directory, delete=False)
    path = Path(handle.name)
    part = _PartState()
    received = _Received()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[bytes(part.header_field).lower()] = bytes(part.header_value)
        part.header_field.clear()
        part.header_value.clear()

    def on_headers_finished() -> None:
        name, filename = _disposition(part.headers)
        part.is_file = name == UPLOAD_FIELD and not received.found
        # Parts without a filename are option fields; other files are ignored.
        part.name = None if part.is_file or filename is not None else name
        if part.name is not None and len(received.fields) >= MAX_FIELDS:
            raise InvalidParametersError(f"too many form fields (at most {MAX_FIELDS})")
        if part.is_file:
            received.found = True
            received.filename = filename

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not part.is_file:
            if part.name is not None:
                part.value.extend(data[start:end])
                if len(part.value) > MAX_FIELD_BYTES:
                    raise InvalidParametersError(
                        f"form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes"
                    )
            return
        received.size += end - start
        if received.size > max_bytes:
            raise FileTooLargeError(f"upload exceeds the limit of {max_bytes} bytes")
        handle.write(data[start:end])

    def on_end() -> None:
        received.complete = True

    def on_part_begin() -> None:
        part.headers.clear()
        part.is_file = False
        part.name = None
        part.value.clear()

    def on_part_end() -> None:
        if part.name is not None:
            received.fields[part.name] = part.value.decode("utf-8", "replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_end": on_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        handle.close()
    except MultipartParseError as exc:
        handle.close()
        path.unlink(missing_ok=True)
        raise CorruptMediaError(f"malformed multipart body: {exc}") from exc
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    if not received.complete:
        path.unlink(missing_ok=True)
        raise CorruptMediaError(
            "the upload was cut off: the multipart body has no closing boundary"
        )
    if not received.found:
        path.unlink(missing_ok=True)
        raise InvalidParametersError(f"the multipart field '{UPLOAD_FIELD}' is missing")
    return SavedUpload(
        path=path, filename=received.filename, size=received.size, fields=received.fields
    )
