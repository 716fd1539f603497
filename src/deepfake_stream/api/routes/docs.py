"""GET /docs (Swagger UI), /docs/oauth2-redirect and /redoc, whose scripts, styles and icons
come from this server (ASSETS_URL), never from a CDN: the docs work on an air-gapped cluster.
FastAPI's own docs routes are turned off in app.py; these replace them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

# Swagger UI's and ReDoc's distribution files as the fastapi-standalone-docs wheel ships them
# (swagger/, redoc/, fastapi/ for the favicon, each with its licence). Only its files are used:
# its StandaloneDocs would patch FastAPI's module functions for every app in the process.
ASSETS_DIR = Path(str(resources.files("fastapi_standalone_docs") / "static"))
ASSETS_URL = "/docs/assets"  # app.py mounts ASSETS_DIR here

OPENAPI_URL = "/openapi.json"  # FastAPI's default, left on in app.py
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"
# That wheel's ReDoc bundle asks for its logo at the page's own path + /logo-mini.svg, in
# place of Redocly's CDN.
REDOC_LOGO_URL = f"{REDOC_URL}/logo-mini.svg"

router = APIRouter(include_in_schema=False)


def _root_path(request: Request) -> str:
    """The prefix a proxy serves this app under (uvicorn --root-path), as FastAPI's docs use."""
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


@router.get(DOCS_URL)
@router.head(DOCS_URL)
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root_path(request)
    return get_swagger_ui_html(
        openapi_url=root + OPENAPI_URL,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/fastapi/favicon.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        # Swagger UI would send the document's URL to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT_URL)
@router.head(OAUTH2_REDIRECT_URL)
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC_URL)
@router.head(REDOC_URL)
def redoc(request: Request) -> HTMLResponse:
    root = _root_path(request)
    return get_redoc_html(
        openapi_url=root + OPENAPI_URL,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/fastapi/favicon.png",
        with_google_fonts=False,  # ReDoc falls back to the system's fonts
    )


@router.get(REDOC_LOGO_URL)
@router.head(REDOC_LOGO_URL)
def redoc_logo() -> FileResponse:
    return FileResponse(ASSETS_DIR / "redoc" / "logo-mini.svg", media_type="image/svg+xml")
