"""GET /: the playground page; its scripts and styles under /static (web/static)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ...web import STATIC_DIR

router = APIRouter(include_in_schema=False)

# Everything comes from this server: the page talks to this API and nothing else. data: images
# are the face thumbnails this API returns (POST /v1/analyze?thumbnails=true).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@router.get("/")
@router.head("/")  # FileResponse answers HEAD with the headers alone
def playground() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )
