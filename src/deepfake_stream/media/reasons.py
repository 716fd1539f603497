"""Why a decoder refused a file, in words fit for a client. Pillow and FFmpeg (through PyAV) put
the file's name into their exceptions' text, and here that name is the server's own path to an
upload or a job's media (/tmp/dfs-upload-..., data/media/<job id>), which no client may see."""

from __future__ import annotations

import av.error
from PIL import UnidentifiedImageError


def decoder_reason(exc: BaseException) -> str:
    """The exception's reason, without the name of the file it was about."""
    if isinstance(exc, UnidentifiedImageError):  # its text is this and the file's name alone
        return "Pillow does not recognise the image's data"
    if isinstance(exc, av.error.FFmpegError) and len(exc.args) > 1:
        return str(exc.args[1])  # (code, FFmpeg's message, the file or function it was in)
    if isinstance(exc, OSError) and exc.filename is not None:
        return exc.strerror or type(exc).__name__
    return str(exc)
